"""THE processor of a vision-language folder (tokenizer, image processor, chat template), for
serving and training alike.

``AutoProcessor`` builds it, except where it cannot without torchvision although images need none:
Qwen2-VL's and Qwen2.5-VL's processors hold a video processor, which only exists as a torchvision
class, while their image processor has a PIL twin. For those families (without torchvision) the
processor is built from the folder's own parts: the PIL image processor with the folder's settings
(``preprocessor_config.json``: min/max pixels, patch size, merge size), its tokenizer and chat
template, and no video processor. stillhouse sends images only; videos are out of scope.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from stillhouse.errors import CorruptModelError, MissingDependencyError

# config.json's model_type -> the family's processor class, whose video processor alone needs
# torchvision (each tested on a tiny random model: tests/tiny_vlm.py).
IMAGE_ONLY_FAMILIES = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}
# PyPI's Linux torchvision is a CUDA build that does not load beside a CPU torch.
TORCHVISION_CPU = "pip install torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu"


def load_processor(path: Path) -> Any:
    """The processor of the vision-language folder ``path``.

    :class:`MissingDependencyError` when transformers cannot build it here (saying what to
    install), :class:`CorruptModelError` when the folder's processor files are missing or bad.
    """
    import transformers
    from transformers.utils import is_torchvision_available

    family = IMAGE_ONLY_FAMILIES.get(_model_type(path))
    try:
        if family is not None and not is_torchvision_available():
            return _image_only_processor(path, getattr(transformers, family))
        return transformers.AutoProcessor.from_pretrained(str(path))
    except ImportError as exc:  # transformers' own "X requires the Torchvision library"
        raise MissingDependencyError(_missing_backend(path, exc)) from exc
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CorruptModelError(
            f"{path} has no usable processor (processor_config.json or preprocessor_config.json): {exc}"
        ) from exc


def _model_type(path: Path) -> str:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""


def _image_only_processor(path: Path, family: type) -> Any:
    from transformers import AutoImageProcessor, AutoTokenizer

    image_processor = AutoImageProcessor.from_pretrained(str(path), backend="pil")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    # The processor's own template files (chat_template.jinja/.json) first, as AutoProcessor reads them.
    files, _ = family.get_processor_dict(str(path))
    template = files.get("chat_template") or getattr(tokenizer, "chat_template", None)
    return _without_video(family)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=template
    )


@cache
def _without_video(family: type) -> type:
    """``family`` whose parts are its image processor and tokenizer only.

    transformers takes a processor's parts from its ``__init__`` parameters and checks each against
    its base class, and without torchvision the video processor's base class cannot even be looked
    up, so a ``video_processor=None`` argument alone is refused; with no such parameter it is not
    asked for. The class keeps the family's name, so the processor a trained folder saves names the
    family (and loads with ``AutoProcessor`` where torchvision is installed).
    """

    def __init__(
        self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None
    ) -> None:
        family.__init__(self, image_processor, tokenizer, None, chat_template=chat_template)

    return type(family.__name__, (family,), {"__init__": __init__, "__module__": __name__})


def _missing_backend(path: Path, exc: ImportError) -> str:
    """What to install for a processor transformers cannot build here."""
    said = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    hint = ""
    if "videoprocessor" in said.lower():
        families = " and ".join(sorted(IMAGE_ONLY_FAMILIES))
        hint = (
            "; videos are out of scope (stillhouse sends images only), but a processor is built "
            f"without its video part for {families} alone"
        )
    if "torchvision" in said.lower():
        hint += f"; install the torchvision build of this torch, e.g. the CPU one: {TORCHVISION_CPU}"
    return f"{path}'s processor cannot be built here: {said}{hint}"
