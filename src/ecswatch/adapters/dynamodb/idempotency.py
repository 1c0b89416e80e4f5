"""``OnceGuard`` on Powertools Idempotency (DynamoDB), and an in-memory one for local runs without a table.

Powertools already solves the hard parts: an IN_PROGRESS record with an expiry
(a crashed attempt does not block forever), the record deleted when the action
raises (so a redelivery tries again), and a local cache for warm containers.

What it leaves open is the write that marks the record done after the effect ran. If that
write fails and the message fails with it, the redelivery finds the record IN_PROGRESS and,
once the first invocation's time is up, runs the effect again (a second Datadog event, a second
retry request). So the done write is retried here (:data:`DONE_WRITE_ATTEMPTS`), and an effect
that ran counts as done even if its record could not be written: that is logged, not raised.
The window left: a message redelivered for another reason after the IN_PROGRESS record expired
(at most the invocation's timeout) while DynamoDB refused every done write.
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

from ecswatch.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

#: Long enough to cover SQS redelivery and EventBridge's 24 h retries; short enough to keep the table small.
EXPIRES_AFTER_SECONDS = 3 * 86_400
#: Tries of the "done" write (on top of botocore's own retries), 0.1 s, 0.2 s, 0.4 s ... apart.
DONE_WRITE_ATTEMPTS = 5
DONE_WRITE_BACKOFF_SECONDS = 0.1


class _RetryingDoneWrites(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer whose "done" write (``_update_record``) is retried on failure."""

    def __init__(self, *, attempts: int, backoff_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._attempts = attempts
        self._backoff = backoff_seconds

    def _update_record(self, data_record: DataRecord) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                super()._update_record(data_record)
                return
            except (ClientError, BotoCoreError):
                if attempt == self._attempts:
                    raise
                time.sleep(self._backoff * 2 ** (attempt - 1))


class PowertoolsOnceGuard:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        *,
        expires_after_seconds: int = EXPIRES_AFTER_SECONDS,
        done_write_attempts: int = DONE_WRITE_ATTEMPTS,
        done_write_backoff_seconds: float = DONE_WRITE_BACKOFF_SECONDS,
    ) -> None:
        persistence = _RetryingDoneWrites(
            attempts=done_write_attempts,
            backoff_seconds=done_write_backoff_seconds,
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

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an IN_PROGRESS record when the invocation runs out of time."""
        self._config.register_lambda_context(context)

    def once(self, key: str, action: Callable[[], None]) -> bool:
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
            logger.error(
                "effect done but its record was not written; a redelivery may repeat it",
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
