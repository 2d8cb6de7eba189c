"""The seed's image keyword experiment end to end: a teacher labels images, students are trained on
growing subsets, and the Jaccard distributions of their keyword sets against the teacher's are
plotted for the base student and each trained one.

Stages (each a library call; this module only chains them):

1. prompts   the image folder as downscaled single-image prompt records, the last ``eval_images``
             held out
2. label     the teacher writes the keywords for every image (cached, resumable, contract-checked)
3. train     one LoRA student per training-set size, on the first N labelled images
4. evaluate  the base student and each trained one on the held-out images against the teacher
5. figures   the per-model Jaccard histogram and the learning curve (mean Jaccard against N)

No vision-language weights ship with stillhouse: the user names the teacher (a local folder, an
OpenAI-compatible vision endpoint or Bedrock) and the student (a local transformers folder).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel
from stillhouse.errors import InvalidInputError
from stillhouse.progress import StageTimer
from stillhouse.sources.images import ImageConfig

NO_VISION_STUDENT = (
    "the student must be a local vision-language model folder that transformers loads with "
    "AutoModelForImageTextToText (config.json with a vision_config, its processor and tokenizer "
    "files), e.g. a downloaded "
    "SmolVLM-256M-Instruct, Qwen2-VL-2B-Instruct or llava-interleave-qwen-0.5b; stillhouse ships "
    "no vision weights"
)


class ImageKeywordsConfig(BaseModel):
    """The experiment: images, the teacher and student the user names, and the subset sizes.

    The defaults are the seed's: 300 and 900 training images, 100 held out. ``train_options`` are
    further :class:`~stillhouse.train.TrainConfig` fields (``max_steps``, ``lora_alpha``, ...).
    """

    model_config = ConfigDict(extra="forbid")

    images: Path
    teacher: str
    student: str
    out: Path
    sizes: tuple[int, ...] = (300, 900)
    eval_images: int = Field(default=100, ge=1)
    image: ImageConfig = ImageConfig()
    max_tokens: int = Field(default=256, ge=1)
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    train_options: dict[str, Any] = Field(default_factory=dict)
    progress: bool = True


def check_config(config: ImageKeywordsConfig, n_images: int) -> None:
    """Refuse what cannot run before any model is loaded: a text student, sizes the folder lacks."""
    from stillhouse.models.hf_vision import is_vision_folder

    if not is_vision_folder(Path(config.student).expanduser()):
        raise InvalidInputError(f"{config.student!r}: {NO_VISION_STUDENT}", field="student")
    from stillhouse.records.rules import PROFILES

    least = PROFILES["fine-tuning"].min_valid
    if not config.sizes or min(config.sizes) < least:
        raise InvalidInputError(
            f"sizes must be one or more training-set sizes of at least {least} (a fine-tuning set's minimum)",
            field="sizes",
        )
    available = n_images - config.eval_images
    if max(config.sizes) > available:
        raise InvalidInputError(
            f"{n_images} images with {config.eval_images} held out leave {available} to train on; "
            f"the largest size asked is {max(config.sizes)}",
            field="sizes",
        )


def label(config: ImageKeywordsConfig, teacher: Any, records: list[Any], name: str) -> list[Any]:
    """The teacher's labelled records for ``records`` (written to ``out/name``, resumable)."""
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.teacher.label import LabelConfig, label_records

    path = config.out / name
    run = LabelConfig(max_tokens=config.max_tokens, progress=config.progress)
    label_records(records, teacher, run, out_path=path)
    labelled, _ = read_dataset(path, "fine-tuning", "skip", sized=False)
    if not labelled:
        raise InvalidInputError(
            f"the teacher {config.teacher!r} wrote no valid keyword list; see {path}.failures.jsonl",
            field="teacher",
        )
    return labelled


def train_students(config: ImageKeywordsConfig, train: list[Any]) -> dict[int, Path]:
    """One student per size, trained on the first N labelled images: ``size -> model folder``."""
    from stillhouse.records.jsonl import write_records
    from stillhouse.train import TrainConfig, run_training

    folders = {}
    for size in sorted(set(config.sizes)):
        data = config.out / f"train-{size}.jsonl"
        write_records(data, train[:size])
        run = TrainConfig(
            student=config.student,
            data=data,
            out=config.out / f"student-{size}",
            task="image-keywords",
            hyperparameters=config.hyperparameters,
            progress=config.progress,
            resume=True,
            **config.train_options,
        )
        folders[size] = run_training(run).model_dir
    return folders


def evaluate(config: ImageKeywordsConfig, heldout: list[Any], students: dict[int, Path]) -> Any:
    """The base student and each trained one on the held-out images, against the teacher."""
    from stillhouse.chat import GenerationParams
    from stillhouse.evaluate.run import evaluate_models
    from stillhouse.models import load_model
    from stillhouse.tasks import get_task

    models: dict[str, ChatModel] = {"base student": load_model(config.student)}
    models |= {f"{size} images": load_model(str(folder)) for size, folder in students.items()}
    params = GenerationParams(max_tokens=config.max_tokens)
    return evaluate_models(
        get_task("image-keywords"), heldout, models, params=params, show_progress=config.progress
    )


def write_figures(config: ImageKeywordsConfig, results: Any) -> dict[str, Path]:
    from stillhouse.evaluate.figures import example_score_histogram, learning_curve

    sizes = [0, *sorted(set(config.sizes))]
    labels = ["base student", *(f"{n} images" for n in sizes[1:])]
    means = {
        n: results.models[label].summary.score_means["jaccard"]
        for n, label in zip(sizes, labels, strict=True)
    }
    files = {
        "histogram": config.out / "jaccard_histogram.png",
        "learning_curve": config.out / "learning_curve.png",
    }
    histogram = example_score_histogram(results, "jaccard")
    if histogram is not None:
        files["histogram"].write_bytes(histogram)
    files["learning_curve"].write_bytes(learning_curve(means, ylabel="mean Jaccard vs teacher"))
    (config.out / "results.json").write_text(results.model_dump_json(indent=2), encoding="utf-8")
    return files


def run_image_keywords(
    config: ImageKeywordsConfig, log: Callable[[str], None] = print, *, teacher_model: ChatModel | None = None
) -> dict[str, Any]:
    """Run every stage; returns the summary also written to ``out/summary.json``. ``teacher_model``
    is an already-loaded teacher (a fake in tests) instead of loading ``config.teacher``."""
    from stillhouse.sources.images import folder_prompt_records
    from stillhouse.tasks import get_task
    from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT
    from stillhouse.teacher.build import TeacherConfig, build_teacher

    timer = StageTimer(log)
    prompts = timer.run(
        "prompts", lambda: folder_prompt_records(config.images, SYSTEM_PROMPT, USER_PROMPT, config.image)
    )
    check_config(config, len(prompts.records))
    config.out.mkdir(parents=True, exist_ok=True)
    split = len(prompts.records) - config.eval_images
    cache = config.out / "teacher-cache.sqlite"
    teacher_config = TeacherConfig(model=config.teacher, shots=0, steer=False, embedder=None, cache=cache)
    with build_teacher(teacher_config, [], get_task("image-keywords"), model=teacher_model) as teacher:
        train = timer.run(
            "label", lambda: label(config, teacher, prompts.records[:split], "labelled-train.jsonl")
        )
        heldout = label(config, teacher, prompts.records[split:], "labelled-heldout.jsonl")
    students = timer.run("train", lambda: train_students(config, train))
    results = timer.run("evaluate", lambda: evaluate(config, heldout, students))
    files = timer.run("figures", lambda: write_figures(config, results))
    summary = {
        "images": len(prompts.records),
        "estimated_image_tokens": prompts.tokens,
        "labelled": {"train": len(train), "heldout": len(heldout)},
        "mean_jaccard": {label: r.summary.score_means.get("jaccard") for label, r in results.models.items()},
        "files": {k: str(v) for k, v in files.items()},
        "seconds": timer.seconds,
    }
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
