"""``OnceGuard`` on Powertools Idempotency (DynamoDB), and an in-memory one for local runs without a table.

Powertools already solves the hard parts: an IN_PROGRESS record with an expiry
(a crashed attempt does not block forever), the record deleted when the action
raises (so a redelivery tries again), and a local cache for warm containers.

What it leaves open is the write that marks the record done after the effect ran. If that
write fails and the message fails with it, the redelivery finds the record IN_PROGRESS and,
once the first invocation's time is up, runs the effect again (a second Datadog event, a second
retry request). So the done write is retried here (:data:`DONE_WRITE_ATTEMPTS`), and an effect
that ran counts as done even if its record could not be written: that is logged, not raised, and
the container remembers the key, so a duplicate it receives later does not repeat the effect.
The tries stop when the invocation's budget has no time for another (a throttled table must not
hold the function past its timeout). The window left: the same message delivered again, to
another container, after the IN_PROGRESS record expired (at most the invocation's timeout), while
DynamoDB refused every done write: measured by ``bench/fault_matrix.py`` (done-write-fails, cold).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.budget import Budget
from ecswatch.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

#: Long enough to cover SQS redelivery and EventBridge's 24 h retries; short enough to keep the table small.
EXPIRES_AFTER_SECONDS = 3 * 86_400
#: Tries of the "done" write (on top of botocore's own retries), 0.1 s, 0.2 s, 0.4 s ... apart.
DONE_WRITE_ATTEMPTS = 5
DONE_WRITE_BACKOFF_SECONDS = 0.1
#: What one try of the done write may take (botocore's own retries of a throttled call included):
#: a try is not started with less than this (and its backoff) left in the invocation.
DONE_WRITE_TRY_SECONDS = 5.0


class _RetryingDoneWrites(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer whose "done" write (``_update_record``) is retried on failure."""

    def __init__(self, *, attempts: int, backoff_seconds: float, budget: Budget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._budget = budget

    def _update_record(self, data_record: DataRecord) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                super()._update_record(data_record)
                return
            except (ClientError, BotoCoreError):
                wait = self._backoff * 2 ** (attempt - 1)
                if attempt == self._attempts or not self._budget.allows(wait + DONE_WRITE_TRY_SECONDS):
                    raise
                time.sleep(wait)


class PowertoolsOnceGuard:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        *,
        expires_after_seconds: int = EXPIRES_AFTER_SECONDS,
        done_write_attempts: int = DONE_WRITE_ATTEMPTS,
        done_write_backoff_seconds: float = DONE_WRITE_BACKOFF_SECONDS,
        budget: Budget | None = None,
    ) -> None:
        persistence = _RetryingDoneWrites(
            attempts=done_write_attempts,
            backoff_seconds=done_write_backoff_seconds,
            budget=budget or Budget(),
            table_name=table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="IDEMPOTENCY",
            expiry_attr="expires_at",
            boto3_client=client,
        )
        config = IdempotencyConfig(
            expires_after_seconds=expires_after_seconds, use_local_cache=True, local_cache_max_items=2048
        )

        @idempotent_function(data_keyword_argument="key", persistence_store=persistence, config=config)  # type: ignore[untyped-decorator]
        def run_once(key: str, action: Callable[[], None]) -> dict[str, Any]:
            action()
            return {"done": key}

        self._run_once = run_once
        self._config = config
        #: Keys whose effect ran but whose done record could not be written: done, for this container.
        self._unrecorded: set[str] = set()
        self._lock = threading.Lock()

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an IN_PROGRESS record when the invocation runs out of time."""
        self._config.register_lambda_context(context)

    def once(self, key: str, action: Callable[[], None]) -> bool:
        with self._lock:
            if key in self._unrecorded:
                return False
        ran: list[bool] = []

        def tracked() -> None:
            action()
            ran.append(True)

        try:
            self._run_once(key=key, action=tracked)
        except IdempotencyAlreadyInProgressError as e:
            raise TransientError(f"{key} is being handled by another invocation; retry later") from e
        except IdempotencyPersistenceLayerError as e:
            if not ran:
                raise
            # The effect happened: failing now is what would make a redelivery repeat it.
            with self._lock:
                self._unrecorded.add(key)
            logger.error(
                "effect done but its record was not written; a redelivery to another container may repeat it",
                extra={"once_key": key, "error": str(e)},
            )
        return bool(ran)


class MemoryOnceGuard:
    """Per-container only: enough for `sam local invoke` and tests, not for production redeliveries."""

    def __init__(self) -> None:
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def register_lambda_context(self, context: Any) -> None:
        """Nothing to expire in memory."""

    def once(self, key: str, action: Callable[[], None]) -> bool:
        with self._lock:
            if key in self._done:
                return False
        action()
        with self._lock:
            self._done.add(key)
        return True
