"""Shared fixtures: sample events and seeded task definitions from ``events/``, fresh for each use."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.taskdef import TaskDefinition, parse_task_definition

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
