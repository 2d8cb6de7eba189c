"""Logged request/response bodies -> a record: what an invocation log's ``inputBodyJson`` and
``outputBodyJson`` say, in every body shape the runtime and the OpenAI API take (pure)."""

from __future__ import annotations

from typing import Any

from stillhouse.records.schema import (
    ContentBlock,
    ConversationRecord,
    ImageBlock,
    ImageSource,
    SystemBlock,
    Turn,
)

# ---------------------------------------------------------------- request/response bodies -> record
# Converse, OpenAI chat-completions and the common InvokeModel bodies (Anthropic messages, Nova,
# Llama ``prompt``/``generation``, Titan ``inputText``/``outputText``) are all understood.


def body_to_record(request: Any, response: Any = None) -> ConversationRecord:
    """A record from a logged request body, with the logged answer appended when ``response`` is given."""
    if not isinstance(request, dict):
        raise ValueError("input.inputBodyJson is not a JSON object")
    system = _system_blocks(request.get("system"))
    turns = [_turn(m) for m in request.get("messages") or []]
    system += [SystemBlock(text=t.text) for t in turns if t.role == "system"]
    turns = [t for t in turns if t.role != "system"]
    if not turns and isinstance(request.get("prompt") or request.get("inputText"), str):
        turns = [
            Turn(role="user", content=[ContentBlock(text=request.get("prompt") or request["inputText"])])
        ]
    if not turns:
        raise ValueError("input.inputBodyJson has no messages")
    if response is not None:
        turns.append(Turn(role="assistant", content=[ContentBlock(text=response_text(response))]))
    return ConversationRecord(system=system or None, messages=turns)


def response_text(body: Any) -> str:
    """The assistant text of a logged response body (Converse, OpenAI, Anthropic, Llama, Titan)."""
    if isinstance(body, dict):
        if isinstance(body.get("output"), dict) and "message" in body["output"]:
            return _blocks_text(body["output"]["message"].get("content"))
        if body.get("choices"):
            return _blocks_text(body["choices"][0].get("message", {}).get("content"))
        if isinstance(body.get("content"), list):
            return _blocks_text(body["content"])
        for key in ("generation", "outputText", "completion"):
            if isinstance(body.get(key), str):
                return body[key]
        if body.get("results"):
            return str(body["results"][0].get("outputText", ""))
    raise ValueError("output.outputBodyJson holds no recognisable answer text")


def _system_blocks(system: Any) -> list[SystemBlock]:
    if system is None:
        return []
    if isinstance(system, str):
        return [SystemBlock(text=system)] if system else []
    return [SystemBlock(text=b["text"]) for b in system if isinstance(b, dict) and b.get("text")]


def _turn(message: Any) -> Turn:
    if not isinstance(message, dict) or message.get("role") not in (
        "system",
        "user",
        "assistant",
        "developer",
    ):
        raise ValueError(f"a message has no usable role: {str(message)[:80]}")
    role = "system" if message["role"] == "developer" else message["role"]
    content = message.get("content")
    blocks = (
        [ContentBlock(text=content)]
        if isinstance(content, str)
        else [block for raw in content or [] if (block := _block(raw)) is not None]
    )
    return Turn(role=role, content=blocks)


def _block(raw: Any) -> ContentBlock | None:
    """One content block: text (Converse/OpenAI/Anthropic), a Converse image, or an OpenAI data URL."""
    if not isinstance(raw, dict):
        raise ValueError("a content block is not an object")
    if isinstance(raw.get("text"), str):
        return ContentBlock(text=raw["text"])
    if isinstance(raw.get("image"), dict):
        return ContentBlock(image=ImageBlock.model_validate(raw["image"]))
    url = (raw.get("image_url") or {}).get("url", "") if raw.get("type") == "image_url" else ""
    if url.startswith("data:image/") and ";base64," in url:
        head, data = url.split(";base64,", 1)
        fmt = head.removeprefix("data:image/").replace("jpg", "jpeg")
        return ContentBlock(image=ImageBlock(format=fmt, source=ImageSource(bytes=data)))
    if raw.get("type") in ("image_url", "image"):
        raise ValueError("an image is referenced by URL; only inline images can be replayed offline")
    return None  # tool/citation blocks carry no trainable text


def _blocks_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b["text"] for b in content or [] if isinstance(b, dict) and isinstance(b.get("text"), str))
