"""Specification of ``ecswatch.config.compiled``: the form of ``jobs.yaml`` the functions read.

The compiled file must hold exactly what the full validator reads from the YAML beside it; when
it does not (edited YAML, another model, no file), the functions validate the YAML instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecswatch.config.__main__ import main
from ecswatch.config.compiled import compile_config, compiled_path, load_jobs, read_compiled
from ecswatch.config.loader import load_config
from ecswatch.config.model import ConfigError

SHIPPED = Path(__file__).parents[2] / "src" / "ecswatch" / "config" / "jobs.yaml"

#: Every kind of field the model has, so the round trip is tested on all of them.
EVERYTHING = """\
defaults:
  slack_channel: "#ops"
  retry: {attempts: 2, backoff: {base_seconds: 30, multiplier: 3, jitter: none}}
jobs:
  extract:
    match: {family: extract, cluster: batch, group: "family:*", started_by: "events-rule/extract-*"}
    notify_on_success: true
    max_run_time: 1h30m
    stop_on_overrun: true
    max_start_time: 10m
    schedule: cron(0 2 * * ? *)
    retry:
      attempts: 3
      evaluate_on_exit:
        - {action: retry, on_exit_code: "1*"}
        - {action: RETRY, on_outcome: spot_interrupted}
        - {action: EXIT, on_reason: "*"}
    log: {group: /ecs/extract, stream_prefix: ecs, region: eu-west-1}
    network: {subnets: [subnet-0123456789abcdef0], security_groups: [sg-0123456789abcdef0]}
    slow_run: {factor: 3, notify_slack: true}
    on_success: [load]
    on_failure: [clean-up]
    sidecars: [metrics-shipper, vault]
  load:
    match: {family: load}
    network: {subnets: [subnet-0123456789abcdef1], assign_public_ip: true}
    launch:
      task_definition: load:7
      cluster: batch
      capacity_provider_strategy:
        - {capacity_provider: FARGATE_SPOT, weight: 3}
        - {capacity_provider: FARGATE, weight: 1, base: 1}
      platform_version: LATEST
      group: chained
      propagate_tags: NONE
      container_overrides:
        app: {command: [load, --all], environment: {MODE: full, BATCH: 500}}
  clean-up:
    match: {family: clean-up}
    launch: {task_definition: clean-up, cluster: batch, launch_type: EC2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    return path


def test_the_shipped_compiled_file_is_in_sync_with_the_shipped_jobs_yaml() -> None:
    config = load_config(SHIPPED)

    assert compiled_path(SHIPPED).read_text() == compile_config(config, SHIPPED.read_bytes()), (
        "jobs.compiled.json is out of date: run python -m ecswatch.config src/ecswatch/config/jobs.yaml"
    )
    assert read_compiled(SHIPPED) == config


def test_every_field_reads_back_from_the_compiled_form_as_the_validator_read_it(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING)
    assert main([str(path)]) == 0

    compiled = read_compiled(path)

    assert compiled is not None
    assert compiled == load_config(path)
    assert compiled.source == str(path)


def test_the_check_writes_the_compiled_file_beside_the_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EVERYTHING)

    code = main([str(path)])

    target = tmp_path / "jobs.compiled.json"
    assert (code, capsys.readouterr().out) == (0, f"{path}: 3 jobs OK; wrote {target}\n")
    assert json.loads(target.read_text())["format"] == 1


def _problems(stderr: str) -> str:
    """stderr without the retry-semantics warnings (tests/config/test_config.py covers those)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("warning: "))


def test_the_check_mode_fails_while_the_compiled_file_is_missing_or_out_of_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EVERYTHING)
    target = tmp_path / "jobs.compiled.json"

    missing = main(["--check", str(path)])
    missing_err = _problems(capsys.readouterr().err)
    main([str(path)])
    path.write_text(EVERYTHING.replace("factor: 3", "factor: 4"))
    capsys.readouterr()
    stale = main(["--check", str(path)])

    assert (missing, missing_err) == (
        1,
        f"{path}: 3 jobs OK, but {target} is missing: run python -m ecswatch.config {path}\n",
    )
    assert (stale, _problems(capsys.readouterr().err)) == (
        1,
        f"{path}: 3 jobs OK, but {target} is out of date: run python -m ecswatch.config {path}\n",
    )


def test_a_yaml_edited_after_compiling_is_read_and_validated_in_full(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING)
    main([str(path)])
    path.write_text(EVERYTHING.replace("factor: 3", "factor: 4"))

    jobs = load_jobs(path)

    assert read_compiled(path) is None
    extract = jobs.job("extract")
    assert extract is not None
    assert extract.slow_run.factor == 4.0


def test_an_edit_that_breaks_the_yaml_is_reported_even_though_a_compiled_file_exists(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING)
    main([str(path)])
    path.write_text(EVERYTHING.replace("on_success: [load]", "on_success: [laod]"))

    with pytest.raises(ConfigError) as caught:
        load_jobs(path)

    assert caught.value.problems == (
        f"{path}: jobs.extract.on_success[0]: no job named 'laod' (did you mean 'load'?)",
    )


def test_a_yaml_without_a_compiled_file_is_read_and_validated_in_full(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING)

    assert load_jobs(path) == load_config(path)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda data: data.update(format=0), id="another format"),
        pytest.param(lambda data: data["jobs"][0].pop("slow_run"), id="a field missing"),
        pytest.param(lambda data: data["jobs"][0].update(priority=1), id="a field this model lacks"),
        pytest.param(lambda data: data["jobs"][0]["retry"].update(backoff=[]), id="a wrong shape"),
    ],
)
def test_a_compiled_file_this_code_cannot_read_exactly_is_ignored(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object]
) -> None:
    path = write(tmp_path, EVERYTHING)
    main([str(path)])
    target = compiled_path(path)
    data = json.loads(target.read_text())
    edit(data)
    target.write_text(json.dumps(data))

    assert read_compiled(path) is None
    assert load_jobs(path) == load_config(path)
