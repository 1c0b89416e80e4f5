"""``OnceGuard`` on Powertools Idempotency (DynamoDB), and an in-memory one for local runs without a table.

Powertools already solves the hard parts: an IN_PROGRESS record with an expiry
(a crashed attempt does not block forever), the record deleted when the action
raises (so a redelivery tries again), and a local cache for warm containers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from ecswatch.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: Long enough to cover SQS redelivery and EventBridge's 24 h retries; short enough to keep the table small.
EXPIRES_AFTER_SECONDS = 3 * 86_400


class PowertoolsOnceGuard:
    def __init__(
        self, table: str, client: DynamoDBClient, *, expires_after_seconds: int = EXPIRES_AFTER_SECONDS
    ) -> None:
        persistence = DynamoDBPersistenceLayer(
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
