"""`stillhouse jobs create/get/list/stop` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import ConflictError, InvalidInputError

from .helpers import job_request

runner = CliRunner()


def test_create_get_list_stop(stillhouse_home: Path, tmp_path: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text(json.dumps(job_request("cli-job")))
    created = runner.invoke(app, ["jobs", "create", "--file", str(request)])
    assert created.exit_code == 0, created.output
    arn = created.stdout.strip()
    assert arn.startswith("arn:aws:bedrock:") and ":model-customization-job/" in arn

    shown = runner.invoke(app, ["jobs", "get", "cli-job"])
    assert (
        "cli-job  InProgress  (DISTILLATION)" in shown.stdout
        and "validation       NotStarted" in shown.stdout
    )
    as_json = json.loads(runner.invoke(app, ["jobs", "get", arn, "--json"]).stdout)
    assert as_json["jobArn"] == arn and as_json["statusDetails"]["trainingDetails"]["status"] == "NotStarted"

    listed = runner.invoke(app, ["jobs", "list", "--status", "InProgress"])
    assert "cli-job" in listed.stdout
    stopped = runner.invoke(app, ["jobs", "stop", "cli-job"])
    assert stopped.stdout.strip() == "Stopped"
    assert (
        json.loads(runner.invoke(app, ["jobs", "list", "--json"]).stdout)["modelCustomizationJobSummaries"][
            0
        ]["status"]
        == "Stopped"
    )
    again = runner.invoke(app, ["jobs", "stop", "cli-job"])
    assert isinstance(again.exception, ConflictError)


def test_a_bad_request_file_names_the_field(stillhouse_home: Path, tmp_path: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text(json.dumps(job_request(hyperParameters={"epochCount": "0"})))
    result = runner.invoke(app, ["jobs", "create", "-f", str(request)])
    assert isinstance(result.exception, InvalidInputError) and result.exception.field == "epochCount"
    request.write_text("{not json")
    with pytest.raises(InvalidInputError, match="cannot read a JSON request"):
        runner.invoke(app, ["jobs", "create", "-f", str(request)], catch_exceptions=False)
