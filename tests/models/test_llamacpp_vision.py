"""The llama.cpp vision backend: the ``?mmproj=`` spec form, the handler's messages, then a tiny
random Idefics3 (the SmolVLM family) written as a GGUF and its mmproj, run by libmtmd.

The model-tier tests skip, saying how to build it, when the installed llama-cpp-python was built
without its multimodal library (``-DLLAVA_BUILD=OFF``, as the Makefile built it before this backend;
``make vision-llamacpp`` rebuilds it)."""

from __future__ import annotations

import base64
import builtins
import io
from pathlib import Path

import pytest
from tests.photos import photo_png

from stillhouse.chat import GenerationParams, Image, Message, collect_stream, stream_chat
from stillhouse.errors import CorruptModelError, InvalidInputError, MissingDependencyError, NotFoundError
from stillhouse.models.llamacpp_vision import data_uri, mtmd_module, to_mtmd_messages
from stillhouse.models.registry import ModelSpec, load_model, parse_spec, resolve
from stillhouse.tasks.image_keywords import image_messages
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT


def photo(name: str = "astronaut") -> Image:
    return Image(format="png", data=photo_png(name, 64))


@pytest.fixture
def gguf_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two files named like a GGUF and its mmproj (what resolution checks; nothing loads them)."""
    model, mmproj = tmp_path / "smolvlm.gguf", tmp_path / "mmproj-smolvlm.gguf"
    model.write_bytes(b"GGUF")
    mmproj.write_bytes(b"GGUF")
    return model, mmproj


def test_a_llamacpp_spec_names_its_mmproj_after_the_gguf(gguf_pair):
    model, mmproj = gguf_pair
    expected = ModelSpec(backend="llamacpp", target=str(model), mmproj=str(mmproj))
    assert parse_spec(f"llamacpp:{model}?mmproj={mmproj}") == expected
    assert parse_spec(f"{model}?mmproj={mmproj}") == expected  # a bare .gguf path takes it too
    assert parse_spec(f"llamacpp:{model}").mmproj is None
    resolved = resolve(f"llamacpp:{model}?mmproj={mmproj}")
    assert (resolved.backend, resolved.path, resolved.mmproj) == ("llamacpp-vision", model, mmproj)
    assert resolve(f"llamacpp:{model}").backend == "llamacpp"


@pytest.mark.parametrize("option", ["?mmproj=", "?mmproj= ", "?projector=x.gguf", "?mmproj=a?b"])
def test_a_llamacpp_spec_with_another_option_or_no_mmproj_is_refused(gguf_pair, option):
    with pytest.raises(
        InvalidInputError, match="the one option of a llama.cpp model is its vision projector"
    ):
        parse_spec(f"llamacpp:{gguf_pair[0]}{option}")


def test_a_spec_with_no_model_before_its_mmproj_is_refused(gguf_pair):
    with pytest.raises(InvalidInputError, match="vision projector"):
        parse_spec(f"llamacpp:?mmproj={gguf_pair[1]}")


def test_a_missing_mmproj_is_not_found(gguf_pair, tmp_path):
    with pytest.raises(NotFoundError, match="no mmproj"):
        resolve(f"llamacpp:{gguf_pair[0]}?mmproj={tmp_path / 'none.gguf'}")


def test_a_model_folder_with_an_mmproj_beside_its_gguf_is_a_vision_model(tmp_path):
    """A custom model's folder (what `stillhouse serve` loads a deployment from) holding
    model.gguf and its projector, named as llama.cpp's converter names one."""
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF")
    assert resolve(str(folder)).backend == "llamacpp"  # a text model: no projector
    (folder / "mmproj-smolvlm-f16.gguf").write_bytes(b"GGUF")
    assert parse_spec(str(folder)) == ModelSpec(
        backend="llamacpp", target=str(folder / "model.gguf"), mmproj=str(folder / "mmproj-smolvlm-f16.gguf")
    )
    resolved = resolve(str(folder))
    assert (resolved.backend, resolved.path, resolved.mmproj) == (
        "llamacpp-vision",
        folder / "model.gguf",
        folder / "mmproj-smolvlm-f16.gguf",
    )


def test_a_model_folder_with_two_mmprojs_is_refused_naming_both(tmp_path):
    for name in ("model.gguf", "mmproj-f16.gguf", "mmproj-q8_0.gguf"):
        (tmp_path / name).write_bytes(b"GGUF")
    with pytest.raises(InvalidInputError, match="2 vision projectors .mmproj-f16.gguf, mmproj-q8_0.gguf."):
        parse_spec(str(tmp_path))


def test_a_file_whose_name_holds_a_question_mark_is_that_file(tmp_path):
    odd = tmp_path / "what?mmproj=x.gguf"
    odd.write_bytes(b"GGUF")
    assert parse_spec(f"llamacpp:{odd}") == ModelSpec(backend="llamacpp", target=str(odd))
    assert parse_spec(str(odd)) == ModelSpec(backend="llamacpp", target=str(odd))


def test_handler_messages_put_each_image_before_its_text_as_a_data_uri():
    image = photo()
    chat = to_mtmd_messages(
        [Message(role="system", content="s"), Message(role="user", content="u", images=(image,))]
    )
    assert chat[0] == {"role": "system", "content": [{"type": "text", "text": "s"}]}
    assert [part["type"] for part in chat[1]["content"]] == ["image_url", "text"]
    url = chat[1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == image.data
    only_image = to_mtmd_messages([Message(role="user", content="", images=(image,))])[0]["content"]
    assert [part["type"] for part in only_image] == ["image_url"]


def test_a_webp_image_is_sent_as_png_which_libmtmd_decodes():
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 4), (200, 10, 10)).save(buffer, format="WEBP")
    url = data_uri(Image(format="webp", data=buffer.getvalue()))
    assert url.startswith("data:image/png;base64,")
    decoded = PILImage.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.format == "PNG" and decoded.size == (8, 4)
    jpeg = Image(format="jpeg", data=b"\xff\xd8raw")
    assert data_uri(jpeg) == "data:image/jpeg;base64," + base64.b64encode(jpeg.data).decode()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            FileNotFoundError("Shared library with base name 'mtmd' not found"),
            "built without its multimodal library",
        ),
        (ModuleNotFoundError("No module named 'llama_cpp'"), "needs llama-cpp-python"),
    ],
)
def test_a_llama_cpp_without_libmtmd_says_how_to_build_it(monkeypatch, error, says):
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "llama_cpp.mtmd_cpp":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "llama_cpp.mtmd_cpp", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(MissingDependencyError, match=says) as caught:
        mtmd_module()
    assert "make vision-llamacpp" in str(caught.value) and "--no-cache-dir" in str(caught.value)


# ------------------------------------------------------------------ a tiny Idefics3 run by libmtmd


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model.gguf, mmproj.gguf) of a tiny random Idefics3."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_vlm import GGUF_NEWLINES, save_tiny_idefics3, write_tiny_idefics3_gguf

    texts = [SYSTEM_PROMPT, USER_PROMPT, GGUF_NEWLINES]
    folder = save_tiny_idefics3(tmp_path_factory.mktemp("idefics3"), texts)
    return write_tiny_idefics3_gguf(folder, folder / "gguf")


def require_libmtmd() -> None:
    try:
        mtmd_module()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.model
def test_a_text_only_gguf_refuses_an_image(tiny_gguf):
    model = load_model(str(tiny_gguf[0]), n_ctx=512, n_threads=1)
    with pytest.raises(InvalidInputError, match="text-only model; images are not supported") as caught:
        model.generate(image_messages(photo()), GenerationParams(max_tokens=2))
    assert "llamacpp:MODEL.gguf?mmproj=MMPROJ.gguf" in str(caught.value)  # how to give it one


@pytest.fixture(scope="module")
def vision_model(tiny_gguf):
    require_libmtmd()
    model, mmproj = tiny_gguf
    return load_model(f"llamacpp:{model}?mmproj={mmproj}", n_ctx=512, n_threads=1)


@pytest.mark.model
def test_a_gguf_with_its_mmproj_generates_from_an_image(vision_model, tiny_gguf):
    from stillhouse.models.llamacpp_vision import LlamaCppVisionModel

    assert isinstance(vision_model, LlamaCppVisionModel) and vision_model.mmproj == tiny_gguf[1]
    messages = image_messages(photo("coffee"))
    completion = vision_model.generate(messages, GenerationParams(max_tokens=4))
    assert completion.output_tokens == 4 and completion.stop_reason == "max_tokens"
    assert vision_model.generate(messages, GenerationParams(max_tokens=4)).text == completion.text  # greedy
    text_only = vision_model.generate(
        [Message(role="user", content=USER_PROMPT)], GenerationParams(max_tokens=2)
    )
    assert text_only.output_tokens == 2
    # The image's embeddings take positions of the prompt: 4 per 32 px tile (8 px patches,
    # pixel-shuffled by 2), for the 2 x 2 tiles of the 64 px image and its global view.
    with_image = vision_model.generate(image_messages(photo()), GenerationParams(max_tokens=1))
    without = vision_model.generate(
        image_messages(photo())[:1] + [Message(role="user", content=USER_PROMPT)],
        GenerationParams(max_tokens=1),
    )
    assert with_image.input_tokens - without.input_tokens >= 5 * 4


@pytest.mark.model
def test_the_image_reaches_the_language_model(vision_model):
    """Two photos give two different next-token distributions (the projector's output is read)."""
    params = GenerationParams(max_tokens=1)
    first = [
        vision_model.generate_with_distribution(image_messages(photo(name)), params, 5)[1]
        for name in ("astronaut", "moon")
    ]
    again = vision_model.generate_with_distribution(image_messages(photo("astronaut")), params, 5)[1]
    assert again.top_logprobs == first[0].top_logprobs
    assert first[0].top_logprobs != first[1].top_logprobs


@pytest.mark.model
def test_streaming_an_image_answer_writes_what_generate_writes(vision_model):
    messages = image_messages(photo("chelsea"))
    params = GenerationParams(max_tokens=5)
    streamed = collect_stream(stream_chat(vision_model, messages, params))
    answered = vision_model.generate(messages, params)
    assert (streamed.text, streamed.output_tokens, streamed.stop_reason) == (
        answered.text,
        answered.output_tokens,
        answered.stop_reason,
    )


@pytest.mark.model
def test_a_text_gguf_given_as_the_mmproj_is_corrupt(tiny_gguf):
    require_libmtmd()
    model = tiny_gguf[0]
    with pytest.raises(CorruptModelError, match="cannot load the mmproj"):
        load_model(f"llamacpp:{model}?mmproj={model}", n_ctx=512, n_threads=1)
