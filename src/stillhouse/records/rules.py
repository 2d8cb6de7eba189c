"""The dataset rules of SPEC §1.3 as pure functions: a parsed record in, a list of problems out.

Nothing here reads files. :mod:`stillhouse.records.jsonl` turns lines into records (or shape
problems) and :mod:`stillhouse.records.validate` applies these rules and counts; keeping the rules
pure lets the CLI, the job runner and the tests share exactly one definition of "valid".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stillhouse.records.schema import SCHEMA_VERSION, ConversationRecord, Turn

ProfileName = Literal["distillation", "fine-tuning", "image-prompts"]

ROLES = ("user", "assistant")
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
MAX_IMAGES_PER_MESSAGE = 10
# Bedrock refuses these in prompts because they collide with chat-template markers.
RESERVED_STRINGS = (
    "User:",
    "Bot:",
    "Assistant:",
    "System:",
    "Thought:",
    "<image>",
    "<video>",
    "[EOS]",
    "<unk>",
)
_RESERVED_LOWER = tuple(s.lower() for s in RESERVED_STRINGS)
# Bedrock's Anthropic and Llama students take single-turn prompts only; Nova takes multi-turn ones.
SINGLE_TURN_FAMILIES = ("anthropic", "meta")
# Bedrock refuses a dataset (a file, or a folder's files together) larger than this.
MAX_DATASET_BYTES = 1024**3
_S3_URI_RE = re.compile(r"s3://[\w\-/.]+")
# S3's bucket naming rule without its length limits (the local store takes short names).
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?")


class RecordProblem(BaseModel):
    """One reason a line was not kept: where (file, line, field path) and why (rule id, reason)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: int
    field: str
    reason: str
    rule: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: line {self.line}" if self.file else f"line {self.line}"
        return f"{where}: {self.field}: {self.reason}"


class Profile(BaseModel):
    """Limits of one kind of dataset. ``max_records`` counts every record read, ``min_valid`` the good ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProfileName
    min_valid: int
    max_records: int
    allow_images: bool
    require_labelled: bool
    max_bytes: int = MAX_DATASET_BYTES
    # The student the data is for (a job's baseModelIdentifier), when its family limits the records.
    student: str | None = None

    def for_student(self, student: str | None) -> Profile:
        """This profile for records meant for ``student`` (its family's rules apply)."""
        return self.model_copy(update={"student": student})


PROFILES: dict[str, Profile] = {
    "distillation": Profile(
        name="distillation", min_valid=100, max_records=15_000, allow_images=False, require_labelled=False
    ),
    "fine-tuning": Profile(
        name="fine-tuning", min_valid=8, max_records=20_000, allow_images=True, require_labelled=True
    ),
    # Image prompts to label for an image task: Bedrock distils text only, so an image set is labelled
    # here and trained as a fine-tuning set, whose limits it therefore takes (unlabelled allowed).
    "image-prompts": Profile(
        name="image-prompts", min_valid=8, max_records=20_000, allow_images=True, require_labelled=False
    ),
}


def s3_uri_problem(uri: str) -> str | None:
    """Why ``uri`` is not an acceptable ``s3://bucket/key`` URI, or ``None`` when it is.

    Besides the SPEC's character set, keys may not climb out of their bucket (``..``) or hold empty
    parts (``a//b``), because the local object store maps keys onto folders.
    """
    if not uri.startswith("s3://"):
        return "must start with 's3://'"
    if not _S3_URI_RE.fullmatch(uri):
        bad = sorted({c for c in uri[5:] if not re.fullmatch(r"[\w\-/.]", c)})
        return f"may only use letters, digits, '_', '-', '/', '.'; found {', '.join(map(repr, bad))}"
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        return "needs a bucket and a key (s3://bucket/key)"
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        return "bucket must be lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit"
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "key may not contain empty, '.' or '..' parts"
    return None


def reserved_strings_in(text: str) -> list[str]:
    """The reserved strings ``text`` contains, compared case-insensitively."""
    if ":" not in text and "<" not in text and "[" not in text:
        return []  # every reserved string holds one of these; most prompts hold none (fast path)
    low = text.lower()
    return [name for name, lowered in zip(RESERVED_STRINGS, _RESERVED_LOWER, strict=True) if lowered in low]


def _problem(line: int, field: str, reason: str, rule: str) -> RecordProblem:
    return RecordProblem(line=line, field=field, reason=reason, rule=rule)


def check_roles(record: ConversationRecord, line: int, profile: Profile) -> list[RecordProblem]:
    """Roles are user/assistant, the first is user, they alternate, and the last fits the profile."""
    turns = record.messages
    if not turns:
        return [_problem(line, "messages", "needs at least one user turn", "roles")]
    problems = []
    for i, turn in enumerate(turns):
        if turn.role not in ROLES:
            hint = " (put system text in the top-level 'system' list)" if turn.role == "system" else ""
            problems.append(
                _problem(
                    line,
                    f"messages[{i}].role",
                    f"must be 'user' or 'assistant', got {turn.role!r}{hint}",
                    "roles",
                )
            )
    if problems:
        return problems  # order checks would only repeat the same mistake
    if turns[0].role != "user":
        problems.append(_problem(line, "messages[0].role", "the first turn must be 'user'", "first-role"))
    for i in range(1, len(turns)):
        if turns[i].role == turns[i - 1].role:
            reason = f"turns must alternate user/assistant; messages[{i - 1}] is also {turns[i].role!r}"
            problems.append(_problem(line, f"messages[{i}].role", reason, "alternation"))
    if profile.require_labelled and turns[-1].role != "assistant":
        reason = f"{profile.name} records must end on an assistant turn (the answer to learn)"
        problems.append(_problem(line, f"messages[{len(turns) - 1}].role", reason, "labelled"))
    return problems


def _text_problems(text: str, field: str, line: int, *, in_prompt: bool) -> list[RecordProblem]:
    if not text.strip():
        return [_problem(line, field, "text is empty", "empty-text")]
    if in_prompt:
        found = reserved_strings_in(text)
        if found:
            reason = f"contains reserved string {', '.join(map(repr, found))} (not allowed in prompts)"
            return [_problem(line, field, reason, "reserved-string")]
    return []


def check_text(record: ConversationRecord, line: int) -> list[RecordProblem]:
    """No empty text anywhere; no reserved strings in the prompt (system and user text).

    Assistant text is an answer, not a prompt, so reserved strings are allowed there.
    """
    problems = []
    for i, block in enumerate(record.system or []):
        problems += _text_problems(block.text, f"system[{i}].text", line, in_prompt=True)
    for i, turn in enumerate(record.messages):
        if not turn.content:
            problems.append(_problem(line, f"messages[{i}].content", "turn has no content", "empty-text"))
        for j, block in enumerate(turn.content):
            if block.text is not None:
                field = f"messages[{i}].content[{j}].text"
                problems += _text_problems(block.text, field, line, in_prompt=turn.role == "user")
    return problems


def _image_source_problems(turn: Turn, prefix: str, line: int) -> list[RecordProblem]:
    problems = []
    for j, block in enumerate(turn.content):
        if block.image is None:
            continue
        field = f"{prefix}.content[{j}].image"
        if block.image.format not in IMAGE_FORMATS:
            reason = f"format must be one of {', '.join(IMAGE_FORMATS)}; got {block.image.format!r}"
            problems.append(_problem(line, f"{field}.format", reason, "image-format"))
        source = block.image.source
        if source.s3Location is not None:
            why = s3_uri_problem(source.s3Location.uri)
            if why:
                problems.append(_problem(line, f"{field}.source.s3Location.uri", why, "s3-uri"))
        elif source.bytes is not None and not _is_base64(source.bytes):
            problems.append(
                _problem(line, f"{field}.source.bytes", "must be non-empty base64", "image-bytes")
            )
    return problems


def _is_base64(data: str) -> bool:
    try:
        return bool(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return False


def check_images(record: ConversationRecord, line: int, profile: Profile) -> list[RecordProblem]:
    """At most 10 images a message, only in user turns, known formats, well-formed sources.

    Format and source are checked in every profile so an author sees every mistake in one pass;
    a text-only profile adds one ``text-only`` problem per user turn that holds images.
    """
    problems = []
    for i, turn in enumerate(record.messages):
        images = [j for j, block in enumerate(turn.content) if block.image is not None]
        if not images:
            continue
        prefix = f"messages[{i}]"
        if turn.role != "user":
            for j in images:
                field = f"{prefix}.content[{j}].image"
                problems.append(_problem(line, field, "images are only allowed in user turns", "image-role"))
        elif not profile.allow_images:
            field = f"{prefix}.content[{images[0]}].image"
            reason = f"{profile.name} datasets are text only ({len(images)} image(s) in this turn)"
            problems.append(_problem(line, field, reason, "text-only"))
        if len(images) > MAX_IMAGES_PER_MESSAGE:
            reason = f"{len(images)} images in one message; at most {MAX_IMAGES_PER_MESSAGE}"
            problems.append(_problem(line, f"{prefix}.content", reason, "image-count"))
        problems += _image_source_problems(turn, prefix, line)
    return problems


def check_schema_version(record: ConversationRecord, line: int) -> list[RecordProblem]:
    """``schemaVersion`` must be written out: Bedrock requires it, so a record that only gets it
    here by default would be refused there."""
    if "schemaVersion" in record.model_fields_set:
        return []
    reason = f'required field is missing; every record needs "schemaVersion": "{SCHEMA_VERSION}"'
    return [_problem(line, "schemaVersion", reason, "schema-version")]


def single_turn_student(student: str | None) -> bool:
    """Whether ``student`` is a Bedrock model of a single-turn family: the provider is the part of
    its id before the first dot, after an ARN's path and an inference-profile prefix (``us.``)."""
    if not student:
        return False
    parts = student.rsplit("/", 1)[-1].split(".")
    return len(parts) > 1 and any(part in SINGLE_TURN_FAMILIES for part in parts[:2])


def check_turns(record: ConversationRecord, line: int, profile: Profile) -> list[RecordProblem]:
    """One user turn (and at most its answer) for a student that takes single-turn prompts only."""
    if not single_turn_student(profile.student):
        return []
    users = sum(turn.role == "user" for turn in record.messages)
    if users <= 1:
        return []
    reason = (
        f"{users} user turns: {profile.student} takes single-turn prompts only (Anthropic and Llama "
        "students do; Nova students take multi-turn)"
    )
    return [_problem(line, "messages", reason, "single-turn")]


def check_record(record: ConversationRecord, line: int, profile: Profile) -> list[RecordProblem]:
    """Every rule a well-shaped record must pass under ``profile`` (empty list: the record is valid)."""
    return (
        check_schema_version(record, line)
        + check_roles(record, line, profile)
        + check_turns(record, line, profile)
        + check_text(record, line)
        + check_images(record, line, profile)
    )


def size_problem(size: int, profile: Profile) -> str | None:
    """Why a dataset of ``size`` bytes is refused before it is read, or ``None``."""
    if size <= profile.max_bytes:
        return None
    return f"{size} bytes; a {profile.name} dataset takes at most {profile.max_bytes} bytes (1 GB)"


def dataset_problems(read: int, valid: int, profile: Profile) -> list[str]:
    """Whole-dataset reasons a file is unusable: too many records read, too few valid ones."""
    problems = []
    if read > profile.max_records:
        problems.append(f"{read} records; a {profile.name} dataset takes at most {profile.max_records}")
    if valid < profile.min_valid:
        problems.append(f"{valid} valid records; a {profile.name} dataset needs at least {profile.min_valid}")
    return problems
