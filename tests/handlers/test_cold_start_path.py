"""What a task-events cold start loads, and the handler's own partial-batch loop.

The task-events function analyses ECS task events: it needs neither the watchdog's cron engine
and adapters, nor a YAML parser, nor the chain-graph checks (the config it reads was validated and
compiled when it was built), nor the Slack and Datadog SDKs before a sink is used. Each is checked
in a fresh interpreter, since this test process has imported them all long ago. Timing is bench/'s
business.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ecswatch.budget import Budget
from ecswatch.handlers import task_events
from local.lambda_runtime import sqs_batch

ROOT = Path(__file__).parents[2]
NOT_ON_THE_TASK_EVENT_PATH = (
    "ecswatch.events.schedule",
    "yaml",
    "ecswatch.config.graph",
    "ecswatch.config.loader",
    "slack_sdk",
    "datadog_api_client",
    "asyncio",
    "aws_lambda_powertools.utilities.batch",
    # The watchdog's own adapters.
    "ecswatch.adapters.aws.ecs_watch",
    "ecswatch.adapters.dynamodb.watchdog_state",
)
_LOADED = """\
import json, sys
{work}
print(json.dumps(sorted(m for m in {names!r} if m in sys.modules)))
"""


def loaded_after(work: str) -> list[str]:
    """Which of the modules that a task event does not need a fresh interpreter has after ``work``."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "ecswatch",
        "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
    }
    code = _LOADED.format(work=work, names=NOT_ON_THE_TASK_EVENT_PATH)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_task_events_handler_loads_no_cron_engine_yaml_graph_or_sdk() -> None:
    assert loaded_after("import ecswatch.handlers.task_events") == []


def test_the_retry_launcher_loads_no_batch_utility_either() -> None:
    """Its SQS loop is the task-events function's (ecswatch.handlers.batch), not Powertools' batch
    utility, whose import brings asyncio and every event source's data classes (~60 ms)."""
    assert loaded_after("import ecswatch.handlers.retry_launcher") == []


def test_building_its_dependencies_reads_the_compiled_jobs_config_without_yaml() -> None:
    work = (
        "from ecswatch.handlers.task_events import dependencies\n"
        "assert dependencies().jobs.source.endswith('jobs.yaml')"
    )

    assert loaded_after(work) == []


# --------------------------------------------------------------------------- the batch loop

TRUNCATED_BODY = '{"version":"0","id":"1b3d5f7a","detail-type":"ECS Task Sta'


def message_ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno == logging.ERROR]


def test_when_every_record_fails_each_is_reported_and_the_invocation_does_not_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 13: a batch of bad messages is a per-message problem. Raising (as Powertools does) makes
    a Lambda error that pages through the errors alarm; the item failures redeliver them just as well."""
    batch = sqs_batch(TRUNCATED_BODY, "[1, 2]")

    response = task_events.process_batch(batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": m} for m in message_ids(batch)]}
    assert [record.getMessage() for record in errors(caplog)] == [
        "malformed event; it will be retried and then dead-lettered"
    ] * 2


class FixedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RemainingTime:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_records_that_cannot_finish_in_time_are_returned_as_failures_before_the_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13 item 10: a timed-out invocation reports no partial failure, so every record comes back,
    the ones already alerted included. Records not started in time are handed back instead."""
    clock = FixedClock()
    budget = Budget(clock=clock)
    budget.start(RemainingTime(60_000))
    handled: list[Any] = []

    def slow_handle_event(raw: Any) -> Any:
        handled.append(raw)
        clock.now += 25.0  # a slow Slack and Datadog: 55 s usable, 30 s left after this record
        return None

    monkeypatch.setattr(task_events, "handle_event", slow_handle_event)
    batch = sqs_batch('"a"', '"b"', '"c"', '"d"')

    response = task_events.process_batch(batch, budget=budget)

    assert handled == ["a"]
    assert response == {"batchItemFailures": [{"itemIdentifier": m} for m in message_ids(batch)[1:]]}
    assert "not started: too little time left" in caplog.text


def test_with_time_enough_every_record_is_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = Budget(clock=FixedClock())
    budget.start(RemainingTime(60_000))
    handled: list[Any] = []
    monkeypatch.setattr(task_events, "handle_event", handled.append)

    assert task_events.process_batch(sqs_batch('"a"', '"b"'), budget=budget) == {"batchItemFailures": []}
    assert handled == ["a", "b"]


def test_an_unexpected_error_fails_only_its_record_and_is_logged_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def handle_event(raw: Any) -> Any:
        if raw == "boom":
            raise RuntimeError("a bug")
        return None

    monkeypatch.setattr(task_events, "handle_event", handle_event)
    batch = sqs_batch('"fine"', '"boom"', '"fine too"')

    response = task_events.process_batch(batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": message_ids(batch)[1]}]}
    [logged] = errors(caplog)
    assert logged.getMessage() == "unexpected error; message will be retried, then dead-lettered"
    assert logged.exc_info is not None
    assert repr(logged.exc_info[1]) == "RuntimeError('a bug')"


def test_an_event_that_is_not_an_sqs_batch_is_refused() -> None:
    with pytest.raises(task_events.MalformedEvent, match="no Records"):
        task_events.process_batch({"Records": []})
