"""Shared fixtures: the project's sample events in ``events/``, read fresh for each use."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EVENTS_DIR = Path(__file__).parents[1] / "events"


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("stopped-oom")`` -> that file as a dict; a new copy each call, so tests may mutate it."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
        return data

    return load
