"""The console's pure parts: session values and CSRF tokens, the loss CSV reader and its SVG,
highlighted evidence (escaped), the weight bar, the job form's request body."""

from __future__ import annotations

import pytest

from stillhouse.serve.console import views
from stillhouse.serve.console.job_pages import FORM_DEFAULTS, distillation_request
from stillhouse.serve.console.login import _safe_next
from stillhouse.serve.console.session import SessionKeys


def test_a_session_is_valid_until_it_expires_and_only_under_its_own_secret():
    keys = SessionKeys(ttl_s=60)
    value = keys.issue(now=1000.0)
    assert keys.valid(value, now=1059.0) and not keys.valid(value, now=1061.0)
    assert not SessionKeys().valid(value, now=1000.0)
    for bad in (None, "", "a.b", "a.b.c", value + "0", value.replace(".", ":")):
        assert not keys.valid(bad, now=1000.0)


def test_a_csrf_token_belongs_to_one_session():
    keys = SessionKeys()
    one, two = keys.issue(), keys.issue()
    assert keys.csrf_ok(one, keys.csrf(one))
    assert not keys.csrf_ok(two, keys.csrf(one))
    assert (
        not keys.csrf_ok(None, keys.csrf(one)) and not keys.csrf_ok(one, None) and not keys.csrf_ok(one, "")
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/console/jobs", "/console/jobs"),
        ("https://evil.example/console/", "/console/search"),
        ("//evil.example", "/console/search"),
        ("/console/\\evil", "/console/search"),
        (None, "/console/search"),
        ("/search", "/console/search"),
    ],
)
def test_login_redirects_only_to_a_console_path(value, expected):
    assert _safe_next(value) == expected


def test_the_loss_csv_skips_a_row_being_written():
    text = "step_number,epoch_number,training_loss\n1,1,2.5\n2,1,2.0\n3,1,"
    assert views.read_loss_csv(text) == [(1, 2.5), (2, 2.0)]
    assert views.read_loss_csv("step_number,epoch_number,validation_loss\n5,1,0.25\n") == [(5, 0.25)]
    assert views.read_loss_csv("") == []


def test_the_loss_curve_is_an_svg_with_a_point_per_step():
    svg = str(views.loss_svg([(1, 2.0), (2, 1.5), (3, 1.0)]))
    assert svg.startswith("<svg") and svg.count("<circle") == 3
    assert 'aria-label="Training loss over 3 steps, from 2.0000 to 1.0000"' in svg
    assert "<svg" not in str(views.loss_svg([])) and "<circle" in str(views.loss_svg([(1, 1.0)]))


def test_evidence_is_escaped_and_the_query_words_marked():
    out = str(views.highlight("<b>Grand</b> piano & applause", "grand piano <script>"))
    assert out == "&lt;b&gt;<mark>Grand</mark>&lt;/b&gt; <mark>piano</mark> &amp; applause"
    assert str(views.highlight("a <i>", "to")) == "a &lt;i&gt;"  # no word of 3+ letters: nothing marked


def test_the_weight_bar_is_in_canonical_order():
    bar = views.weight_bar({"metadata": 0.1, "visual": 0.2, "audio": 0.3, "transcription": 0.4})
    assert [(s["modality"], s["pct"]) for s in bar] == [
        ("visual", 20.0),
        ("audio", 30.0),
        ("transcription", 40.0),
        ("metadata", 10.0),
    ]
    assert views.weight_bar(None) == []


def test_the_job_form_becomes_a_distillation_request_without_blank_hyperparameters():
    form = {**FORM_DEFAULTS, "jobName": "j", "teacher": "t", "batchSize": " ", "maxResponseLength": "64"}
    body = distillation_request(form, "123456789012")
    assert body["hyperParameters"] == {"epochCount": "2", "learningRate": "0.0001"}
    teacher = body["customizationConfig"]["distillationConfig"]["teacherModelConfig"]
    assert teacher == {"teacherModelIdentifier": "t", "maxResponseLengthForInference": 64}
    assert body["roleArn"] == "arn:aws:iam::123456789012:role/stillhouse-console"


def test_the_playgrounds_events_are_one_json_line_each():
    import json

    from stillhouse.chat import Completion
    from stillhouse.errors import NotFoundError
    from stillhouse.serve.console.sse import SseWire

    wire = SseWire()
    assert wire.start().startswith(b":")  # a comment, not an event
    assert wire.delta("two\nlines") == b'event: delta\ndata: {"text": "two\\nlines"}\n\n'
    end = wire.end(Completion(text="x", model="m", input_tokens=2, output_tokens=1), 12.4, 3.0)
    name, data = end.decode().rstrip("\n").split("\n")
    assert name == "event: end" and json.loads(data[6:]) == {
        "stopReason": "end_turn",
        "usage": {"inputTokens": 2, "outputTokens": 1},
        "latencyMs": 12,
    }
    error = wire.error(NotFoundError("gone")).decode()
    assert json.loads(error.split("\n")[1][6:]) == {"code": "ResourceNotFoundException", "message": "gone"}
