"""Shared fixtures: sample events and seeded task definitions from ``events/``, fresh for each use, and the
run reports the pipeline makes of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from ecswatch.adapters.aws.clients import ClientCache
from ecswatch.config.settings import Settings
from ecswatch.events.taskdef import TaskDefinition, parse_task_definition
from ecswatch.ports import LogReader
from ecswatch.run import RunReport
from local.aws import FAKE_CREDENTIALS
from tests.fakes import SampleReport, report_from

EVENTS_DIR = Path(__file__).parents[1] / "events"
SEED_TASK_DEFINITIONS = EVENTS_DIR / "seed" / "task-definitions.json"


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("stopped-oom")`` -> that file as a dict; a new copy each call, so tests may mutate it."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
        return data

    return load


@pytest.fixture
def seeded_task_definition() -> Callable[[dict[str, Any]], TaskDefinition | None]:
    """The task definition ``events/seed/`` registers for a raw event's family, as DescribeTaskDefinition
    would return it; None for a family the seed leaves out (``legacy-etl``, the "deleted" one)."""
    seeds = {spec["family"]: spec for spec in json.loads(SEED_TASK_DEFINITIONS.read_text())}

    def lookup(raw: dict[str, Any]) -> TaskDefinition | None:
        arn = raw["detail"]["taskDefinitionArn"]
        family = arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        spec = seeds.get(family)
        return None if spec is None else parse_task_definition({**spec, "taskDefinitionArn": arn})

    return lookup


@pytest.fixture
def sample_report(
    load_event: Callable[[str], dict[str, Any]],
    seeded_task_definition: Callable[[dict[str, Any]], TaskDefinition | None],
) -> SampleReport:
    """``sample_report("stopped-oom", logs=..., settings=...)`` -> the report the pipeline makes of that
    sample with its seeded task definition, after ``change`` edits the raw ``detail`` (``report_from``)."""

    def make(
        name: str,
        *,
        change: Callable[[dict[str, Any]], None] | None = None,
        logs: LogReader | None = None,
        settings: Settings | None = None,
    ) -> RunReport:
        raw = load_event(name)
        if change is not None:
            change(raw["detail"])
        return report_from(raw, task_definition=seeded_task_definition(raw), logs=logs, settings=settings)

    return make


# ------------------------------------------------------------------ AWS for adapter tests


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint override, so nothing here can reach a real account."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(fake_credentials: None) -> Iterator[None]:
    """moto in process, for one test."""
    with mock_aws():
        yield


@pytest.fixture
def clients(fake_credentials: None) -> ClientCache:
    """The adapters' client cache, as a Lambda container builds it once."""
    return ClientCache()
