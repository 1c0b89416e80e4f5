"""Specification of ``PowertoolsOnceGuard``: an effect runs once per key, also when the "done"
write that follows it fails.

The guard writes IN_PROGRESS, runs the effect (a Datadog event, a retry request), then writes
"done". If that last write fails and the item fails with it, the redelivery finds the record still
IN_PROGRESS; once the invocation that wrote it has timed out, Powertools lets the effect run
again: a second Datadog event, a second retry. So the done write is retried within the
invocation, and an effect that ran is reported as done even when its record could not be written
(logged, never raised: raising is what would repeat the effect).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ecswatch.adapters.dynamodb.idempotency import PowertoolsOnceGuard
from ecswatch.budget import Budget
from tests.fakes import create_state_table_from_template

TABLE = "ecswatch-state"


class ShortInvocation:
    """A Lambda context with one second left, so an IN_PROGRESS record expires quickly."""

    def get_remaining_time_in_millis(self) -> int:
        return 1000


class FlakyDoneWrites:
    """A DynamoDB client whose first ``failures`` UpdateItem calls (the "done" write) are throttled."""

    def __init__(self, client: Any, failures: int) -> None:
        self._client = client
        self.failures = failures
        self.update_calls = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.update_calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}},
                "UpdateItem",
            )
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_state_table_from_template(client, TABLE)
        yield client


def _guard(client: Any) -> PowertoolsOnceGuard:
    guard = PowertoolsOnceGuard(TABLE, client, done_write_backoff_seconds=0.0)
    guard.register_lambda_context(ShortInvocation())
    return guard


def test_a_throttled_done_write_is_retried_so_the_redelivery_does_not_repeat_the_effect(
    dynamodb: Any,
) -> None:
    effects: list[str] = []
    flaky = FlakyDoneWrites(dynamodb, failures=2)

    assert _guard(flaky).once("datadog#run-1", lambda: effects.append("event"))
    time.sleep(1.1)  # the first invocation's IN_PROGRESS window has passed
    assert not _guard(dynamodb).once("datadog#run-1", lambda: effects.append("event"))

    assert effects == ["event"]
    assert flaky.update_calls == 3


def test_an_effect_that_ran_is_done_even_when_its_record_cannot_be_written(
    dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    effects: list[str] = []

    ran = _guard(FlakyDoneWrites(dynamodb, failures=100)).once("retry#run-1", lambda: effects.append("retry"))

    assert ran is True
    assert effects == ["retry"]


def test_a_failing_effect_still_fails_and_may_run_again(dynamodb: Any) -> None:
    def outage() -> None:
        raise RuntimeError("datadog is down")

    with pytest.raises(RuntimeError):
        _guard(dynamodb).once("datadog#run-2", outage)
    effects: list[str] = []
    assert _guard(dynamodb).once("datadog#run-2", lambda: effects.append("event"))
    assert effects == ["event"]


def test_a_duplicate_in_the_same_container_does_not_repeat_an_effect_whose_record_was_refused(
    dynamodb: Any,
) -> None:
    """DynamoDB refused every done write; the container remembers the effect ran, so the whole batch
    delivered to it again (SQS at-least-once) sends nothing twice. Another container cannot know:
    that window is measured by bench/fault_matrix.py (done-write-fails, cold) and in the README."""
    effects: list[str] = []
    guard = _guard(FlakyDoneWrites(dynamodb, failures=100))
    assert guard.once("datadog#run-3", lambda: effects.append("event"))
    time.sleep(1.1)  # the IN_PROGRESS record has expired

    assert not guard.once("datadog#run-3", lambda: effects.append("event"))
    assert effects == ["event"]


def test_the_done_write_is_not_tried_again_without_the_time_for_it(dynamodb: Any) -> None:
    """Each try may take seconds (botocore retries a throttled call itself): with less than a try's
    worth of the invocation left, the guard stops, rather than hold the function past its timeout."""
    budget = Budget()
    budget.start(ShortInvocation())  # one second left, less than the reserve: no time for a retry
    flaky = FlakyDoneWrites(dynamodb, failures=100)
    guard = PowertoolsOnceGuard(TABLE, flaky, done_write_backoff_seconds=0.0, budget=budget)
    guard.register_lambda_context(ShortInvocation())

    assert guard.once("datadog#run-4", lambda: None)
    assert flaky.update_calls == 1
