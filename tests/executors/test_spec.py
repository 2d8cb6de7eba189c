"""The executor spec (local, ray, ray://HOST:PORT, RAY_ADDRESS), the local executor and the errors
a bad spec or a missing Ray gives, before any record is read or model loaded."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from stillhouse.errors import InvalidInputError, MissingDependencyError
from stillhouse.executors import ExecutorSpec, LocalExecutor, Stage, open_executor, parse_executor
from stillhouse.executors.spec import executor_from_env


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (None, {}, ExecutorSpec()),
        ("local", {"RAY_ADDRESS": "ray://head:10001"}, ExecutorSpec()),
        ("ray", {}, ExecutorSpec(kind="ray")),
        ("ray", {"RAY_ADDRESS": "auto"}, ExecutorSpec(kind="ray", address="auto")),
        ("ray", {"RAY_ADDRESS": "10.0.0.5:6379"}, ExecutorSpec(kind="ray", address="10.0.0.5:6379")),
        ("ray", {"RAY_ADDRESS": "ray://head:10001"}, ExecutorSpec(kind="ray", address="ray://head:10001")),
        (
            "ray://head-node.internal:10001",
            {},
            ExecutorSpec(kind="ray", address="ray://head-node.internal:10001"),
        ),
        ("ray://[::1]:10001", {}, ExecutorSpec(kind="ray", address="ray://[::1]:10001")),
    ],
)
def test_executor_specs(text, env, expected):
    assert parse_executor(text, env) == expected


@pytest.mark.parametrize("text", ["foo", "Ray", "ray:", "dask", "ray:2", "local:4", ""])
def test_an_unknown_executor_is_refused(text):
    if text == "":  # empty is the default, as an unset option
        assert parse_executor(text).kind == "local"
        return
    with pytest.raises(InvalidInputError, match="unknown executor") as err:
        parse_executor(text)
    assert err.value.field == "executor" and "ray://HOST:PORT" in str(err.value)


@pytest.mark.parametrize(
    "address",
    [
        "ray://",
        "ray://head",
        "ray://head:",
        "ray://:10001",
        "ray://head:0",
        "ray://head:65536",
        "ray://head:port",
        "ray://he ad:10001",
        "ray://head:10001/x",
        "ray://-head:10001",
    ],
)
def test_a_malformed_ray_address_is_refused(address):
    with pytest.raises(InvalidInputError, match="malformed Ray address") as err:
        parse_executor(address)
    assert err.value.field == "executor"


def test_a_malformed_ray_address_in_the_environment_is_refused():
    with pytest.raises(InvalidInputError, match="malformed Ray address") as err:
        parse_executor("ray", {"RAY_ADDRESS": "ray://head"})
    assert err.value.field == "RAY_ADDRESS"


def test_actors_and_rate_must_be_positive():
    with pytest.raises(ValueError):
        parse_executor("ray", actors=0)
    with pytest.raises(ValueError):
        parse_executor("ray", rate=0.0)


@pytest.mark.parametrize("extra", [{"actors": 2}, {"rate": 5.0}, {"cpus": 4}, {"gpus": 1.0}])
def test_ray_options_are_refused_for_the_local_executor(extra):
    with pytest.raises(InvalidInputError, match="apply to a Ray executor") as err:
        parse_executor("local", **extra)
    assert err.value.field == "executor"


def test_descriptions_say_where_a_stage_ran():
    assert parse_executor(None).description == "local"
    assert parse_executor("ray").description == "ray (local cluster)"
    assert parse_executor("ray://h:1").description == "ray (ray://h:1)"


def test_the_local_executor_maps_in_order_on_the_stage_threads():
    executor = LocalExecutor()
    stage = Stage(name="square", local=lambda x: x * x, threads=3)
    assert list(executor.map(stage, range(30))) == [i * i for i in range(30)]
    assert executor.info.workers == {"square": 3} and executor.info.executor == "local"


def test_asking_for_ray_without_ray_installed_is_a_typed_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` raises ImportError
    with (
        pytest.raises(MissingDependencyError, match=r"stillhouse\[ray\]") as err,
        open_executor(parse_executor("ray")),
    ):
        pass
    assert err.value.field == "executor"


def test_the_local_executor_never_imports_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with open_executor(parse_executor("local")) as executor:
        assert isinstance(executor, LocalExecutor)


@pytest.mark.parametrize(("option", "message"), [("foo", "unknown executor"), ("ray://head", "malformed")])
def test_label_refuses_a_bad_executor_before_reading_anything(tmp_path, option, message):
    from stillhouse.cli.app import app

    missing = tmp_path / "no-such-prompts.jsonl"
    result = CliRunner().invoke(
        app, ["label", str(missing), "--out", str(tmp_path / "o.jsonl"), "--executor", option]
    )
    assert isinstance(result.exception, InvalidInputError) and message in str(result.exception)
    assert not (tmp_path / "o.jsonl").exists()


def test_job_workers_read_the_executor_serve_was_given():
    assert executor_from_env({}) == ExecutorSpec()
    env = {"STILLHOUSE_EXECUTOR": "ray", "STILLHOUSE_ACTORS": "3", "RAY_ADDRESS": "auto"}
    assert executor_from_env(env) == ExecutorSpec(kind="ray", address="auto", actors=3)
    with pytest.raises(InvalidInputError, match="not a number") as err:
        executor_from_env({"STILLHOUSE_EXECUTOR": "ray", "STILLHOUSE_ACTORS": "two"})
    assert err.value.field == "STILLHOUSE_ACTORS"
    with pytest.raises(InvalidInputError, match="unknown executor"):
        executor_from_env({"STILLHOUSE_EXECUTOR": "spark"})


def test_serve_refuses_a_bad_executor_before_starting(tmp_path):
    from stillhouse.cli.app import app

    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "j.db"), "--executor", "ray://:1"])
    assert isinstance(result.exception, InvalidInputError) and "malformed Ray address" in str(
        result.exception
    )
    assert not (tmp_path / "j.db").exists()
