"""A video's metadata: the sidecar ``NAME.json`` beside ``NAME.mp4`` over the container's own tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stillhouse.errors import InvalidInputError
from stillhouse.search.segments import MetadataValue

# Container tags worth searching (ffmpeg's names); technical ones (encoder, handler_name) are noise.
CONTAINER_TAGS = (
    "title",
    "artist",
    "album_artist",
    "author",
    "comment",
    "description",
    "genre",
    "date",
    "year",
    "show",
    "network",
    "copyright",
    "language",
    "keywords",
)


_UNSET = {"und", "unknown", "none"}  # ISO 639's "undetermined" and friends: a tag that says nothing


def sidecar_path(video: Path) -> Path:
    return video.with_suffix(".json")


def read_sidecar(video: Path) -> dict[str, Any]:
    """The sidecar's object ({} when there is none); a sidecar that is not a JSON object is an error."""
    path = sidecar_path(video)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path.name}: not valid JSON ({exc})", field="sidecar") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path.name}: expected a JSON object", field="sidecar")
    return data


def video_metadata(
    video: Path, sidecar: dict[str, Any], container: dict[str, str]
) -> dict[str, MetadataValue]:
    """Searchable fields: container tags first, the sidecar's fields over them, the file name last."""
    out: dict[str, MetadataValue] = {
        k: v for k in CONTAINER_TAGS if (v := container.get(k, "").strip()) and v.lower() not in _UNSET
    }
    for key, value in sidecar.items():
        if key != "video_id" and (clean := _value(value)) is not None:
            out[str(key)] = clean
    out.setdefault("title", video.stem)
    out["file"] = video.name
    return out


def video_id(video: Path, sidecar: dict[str, Any]) -> str:
    given = sidecar.get("video_id")
    return str(given).strip() if given is not None and str(given).strip() else video.stem


def _value(value: Any) -> MetadataValue | None:
    """A JSON value as a metadata value: scalars kept, lists of scalars kept, objects flattened to text."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [
            v if isinstance(v, str | int | float | bool) else json.dumps(v) for v in value if v is not None
        ]
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False)
