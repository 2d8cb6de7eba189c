"""The console in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): log in,
search and play a segment, create a distillation job from the form and watch it complete, upload a
dataset, stream from a deployment and a provisioned model, watch a batch job from the API complete,
an evaluation job's scores and report; screenshots of every page at two window sizes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.jobs.helpers import build_tiny_student, prompt_line, router_prompts
from tests.serve.console.conftest import MEDIA_START, Served, put_dataset, wait_for
from tests.serve.helpers import API_KEY, boto_client, deploy

from stillhouse.jobs import state
from stillhouse.sources.objectstore import LocalObjectStore

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.model,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Where the screenshots go (the README shows one); $STILLHOUSE_SCREENSHOTS moves them.
SHOTS = Path(os.environ.get("STILLHOUSE_SCREENSHOTS") or Path(__file__).parents[3] / "docs" / "screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, served: Served) -> Iterator[Any]:
    """One logged-in page for the module (the session cookie lives in its context)."""
    context = browser.new_context(viewport=SIZES["desktop"], base_url=served.url)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto("/console/search")
    assert tab.url.endswith("/console/login?next=/console/search")
    tab.get_by_label("API key").fill(API_KEY)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url("**/console/search")
    yield tab
    context.close()


def shoot(page: Any, name: str) -> None:
    """The page at both window sizes, then back to the desktop size."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=size == "desktop")
    page.set_viewport_size(SIZES["desktop"])


def test_a_wrong_key_sees_only_the_login_page(browser: Any, served: Served):
    context = browser.new_context(viewport=SIZES["desktop"], base_url=served.url)
    tab = context.new_page()
    tab.goto("/console/jobs")
    tab.get_by_label("API key").fill("sk-wrong")
    tab.get_by_role("button", name="Log in").click()
    assert tab.get_by_role("alert").inner_text() == "That is not the API key of this server."
    for path in ("/console/jobs", "/console/models", "/console/search?q=x", "/console/datasets"):
        tab.goto(path)
        assert "/console/login" in tab.url and tab.locator("nav").count() == 0
    shoot(tab, "login")
    context.close()


def test_search_shows_cards_and_plays_the_segment_from_its_start(page: Any):
    page.goto("/console/search")
    page.get_by_label("Query").fill("grand piano applause music")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("ol.results li.result")
    assert page.locator(".router-name").inner_text().endswith("router")  # the fast router's folder
    assert page.locator(".weight-bar span").count() == 4
    first = page.locator("li.result").first
    assert first.locator("h3").inner_text() == "Concert night"
    assert first.locator("img.thumb").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator(".thumb.placeholder").count() >= 1  # segments without a keyframe
    assert first.locator("mark").count() >= 1  # the evidence, highlighted
    readme_shot(page)
    first.get_by_role("button", name="Play Concert night from 0:02.0").click()
    page.wait_for_function("document.getElementById('player').dataset.seekedTo !== undefined")
    seeked = float(page.locator("#player").get_attribute("data-seeked-to"))
    assert seeked == pytest.approx(MEDIA_START, abs=0.05)
    assert page.locator("#player").evaluate("v => v.currentTime") >= MEDIA_START - 0.05
    shoot(page, "search")


def test_compare_shows_each_strategy_and_sliders_override_the_weights(page: Any):
    page.goto("/console/search?index=demo&q=quarterly+earnings&compare=1")
    assert page.locator("section.column h2").all_inner_texts() == ["routed", "rrf", "uniform", "combined"]
    shoot(page, "search-compare")
    page.goto("/console/search?index=demo&q=piano")
    page.get_by_label("Set the weights by hand").check()
    for modality, value in (("visual", "0"), ("audio", "30"), ("transcription", "10"), ("metadata", "0")):
        page.get_by_label(modality, exact=True).fill(value)
    assert page.locator("#o_audio").inner_text() == "0.75"  # renormalised live: 30 / 40
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("ol.results li.result")
    bar = page.locator(".weight-bar").get_attribute("aria-label")
    assert bar == "weights: visual 0.0%, audio 75.0%, transcription 25.0%, metadata 0.0%"


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_student(tmp_path_factory.mktemp("student"))


def test_a_distillation_job_from_the_form_completes_with_a_loss_curve(
    page: Any, served: Served, student: Path
):
    uri = put_dataset(served.home, "router.jsonl", [prompt_line(p) for p in router_prompts(110)])
    page.goto("/console/jobs/new")
    for label, value in (
        ("Job name", "console-job"),
        ("Custom model name", "console-model"),
        ("Training data (object store)", uri),
        ("Teacher model", "teacher"),
        ("Student (base model)", str(student)),
        ("Epochs", "1"),
        ("Batch size", "64"),
    ):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url("**/console/jobs/customization/console-job")
    ended = "['Completed', 'Failed', 'Stopped'].includes(document.getElementById('job-status').textContent)"
    page.wait_for_function(ended, timeout=90_000)  # the page polls; nothing here reloads it
    status = page.locator("#job-status").inner_text()
    assert status == "Completed", page.locator("#failure").all_inner_texts()
    assert page.locator("svg.loss-curve polyline.loss").count() == 1
    assert page.locator(".counts").inner_text().startswith("110 answered")
    assert page.get_by_role("button", name="Stop").count() == 0  # finished: nothing to stop
    shoot(page, "job")
    page.goto("/console/jobs")
    assert "Completed" in page.locator("table.jobs").inner_text()
    shoot(page, "jobs")
    page.goto("/console/jobs/new")
    shoot(page, "job-new")


def test_a_dataset_upload_shows_the_validators_report(page: Any, tmp_path: Path):
    good = [prompt_line(p) for p in router_prompts(3)]
    upload = tmp_path / "mixed.jsonl"
    upload.write_text("\n".join([good[0], "{not json", good[1], '{"schemaVersion": "x"}', good[2]]) + "\n")
    page.goto("/console/datasets")
    page.get_by_label("JSONL file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and validate").click()
    page.wait_for_selector("#report")
    lines = page.locator("#problems tbody td:first-child").all_inner_texts()
    assert sorted(set(lines)) == ["2", "4"]  # a line may break several rules: one row each
    assert page.locator("#kept tbody td:first-child").all_inner_texts() == ["1", "3", "5"]
    assert "NOT usable" in page.locator("#verdict").inner_text()  # 3 records are too few to train on
    shoot(page, "datasets")


def test_the_playground_streams_from_a_deployment_and_a_provisioned_model(page: Any, served: Served):
    bedrock = boto_client("bedrock", served.url)
    model_arn, _ = deploy(bedrock, served.jobs, served.home)
    pm = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="console-pm", modelId=model_arn
    )["provisionedModelArn"]
    wait_for(served.jobs, "get_provisioned", pm, frozenset({"InService", "Failed"}))
    report = served.home / "evaluations" / "run-1" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!doctype html><title>r</title><h1>Evaluation run-1</h1>")
    page.goto("/console/models")
    assert "console-pm" in page.locator("table#provisioned").inner_text()
    for turn, (option, text) in enumerate(
        (("router-dep", "hello there"), ("console-pm", "provisioned hello"))
    ):
        page.get_by_label("Model", exact=True).select_option(label=option)
        page.get_by_label("Message").fill(text)
        page.get_by_role("button", name="Send").click()
        # This turn's answer, once done: the last done one may still be the previous turn's.
        answer = page.locator("#pg-log li.assistant[data-done]").nth(turn)
        answer.wait_for()
        assert answer.inner_text() == f"assistant: echo: {text}"
        assert answer.get_attribute("data-deltas") == str(1 + len(text.split()))  # one per word
    page.get_by_role("link", name="run-1").click()
    frame = page.frame_locator("iframe#report")
    assert frame.locator("h1").inner_text() == "Evaluation run-1"
    shoot(page, "models")


def test_a_batch_job_from_the_api_is_listed_and_completes_with_its_counts(
    page: Any, served: Served, monkeypatch: pytest.MonkeyPatch
):
    from tests.batch.helpers import INPUT, input_lines, job_body

    monkeypatch.setenv("BATCH_CALL_DELAY", "0.2")  # the fake answers slowly enough to watch it run
    LocalObjectStore(served.home / "s3").put_bytes(INPUT, "\n".join(input_lines(6)).encode())
    boto_client("bedrock", served.url).create_model_invocation_job(**job_body("browser-batch"))
    page.goto("/console/jobs")
    row = page.locator("table.jobs tr", has_text="browser-batch")
    assert "Batch inference" in row.inner_text()
    row.locator("text=Completed").wait_for(timeout=20_000)  # the table polls; nothing reloads it
    assert "6/6 records" in row.inner_text()
    row.get_by_role("link", name="browser-batch").click()
    counts = page.locator("#record-counts")
    assert counts.locator('[data-count="successRecordCount"] strong').inner_text() == "6"
    assert counts.locator('[data-count="errorRecordCount"] strong').inner_text() == "0"
    uris = page.locator("#output-uris li").all_inner_texts()
    assert [u.rsplit("/", 1)[1] for u in uris] == ["manifest.json.out", "records.jsonl.out"]
    shoot(page, "job-batch")


def test_an_evaluation_jobs_page_shows_scores_and_its_report(page: Any, served: Served):
    from tests.jobs.evaluation_helpers import DATASET, dataset_lines, eval_body

    LocalObjectStore(served.home / "s3").put_bytes(DATASET, "\n".join(dataset_lines(2)).encode())
    arn = boto_client("bedrock", served.url).create_evaluation_job(**eval_body("browser-eval"))["jobArn"]
    assert wait_for(served.jobs, "get_evaluation_job", arn, state.TERMINAL).status == "Completed"
    page.goto("/console/jobs/evaluation/browser-eval")
    assert page.locator("#scores tbody th").all_inner_texts() == ["student-model"]
    assert page.frame_locator("iframe#report").locator("h1").count() >= 1  # the report, in place
    shoot(page, "job-evaluation")


def readme_shot(page: Any) -> None:
    """The README's image: the search page's first screen, halved and in 64 colours (tens of KB).
    Written when missing only, so test runs leave the committed file alone; delete it to renew."""
    target = SHOTS / "readme-search.png"
    if target.exists():
        return
    from PIL import Image

    page.screenshot(path=str(SHOTS / "search-screen.png"))
    with Image.open(SHOTS / "search-screen.png") as image:
        small = image.convert("RGB").resize((image.width // 2, image.height // 2), Image.LANCZOS)
        small.quantize(colors=64).save(target, optimize=True)
