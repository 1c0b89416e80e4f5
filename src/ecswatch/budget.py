"""The time an invocation has left, so no effect waits past the function's own timeout.

A Lambda that runs into its timeout reports no partial batch failure: every record of the batch
comes back, the ones already alerted included. So each invocation keeps a budget from
``context.get_remaining_time_in_millis()`` (less a reserve for answering SQS), and anything that
would wait — Slack's Retry-After, a retry's backoff, the next record — asks it first. Adapters are
built once per container and hold the same :class:`Budget`; the handler restarts it per invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

#: Kept back from the remaining time to log, flush metrics and return the batch response.
RESERVE_SECONDS = 5.0
#: A record is not started with less than this left (after the reserve): one record's worst case,
#: Slack (5 s timeout, a retry) and Datadog (5 s timeout, two retries 4 s and 8 s apart), is ~30 s.
#: Normally a record takes well under a second, so this only bites when an outside system is slow.
RECORD_SECONDS = 30.0


class HasRemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Budget:
    """Seconds left in the current invocation; unlimited until :meth:`start` is called (tests, CLI)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, reserve_seconds: float = RESERVE_SECONDS
    ):
        self._clock = clock
        self._reserve = reserve_seconds
        self._deadline: float | None = None

    def start(self, context: HasRemainingTime | None) -> None:
        """Begin an invocation; a context without a usable remaining time leaves the budget unlimited."""
        remaining_ms = _remaining_ms(context)
        self._deadline = None if remaining_ms is None else self._clock() + remaining_ms / 1000 - self._reserve

    def remaining(self) -> float:
        """Seconds left before the reserve (never negative); infinity when no invocation set a limit."""
        if self._deadline is None:
            return float("inf")
        return max(0.0, self._deadline - self._clock())

    def allows(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` (and then doing the work) still ends before the reserve."""
        return seconds < self.remaining()


def _remaining_ms(context: HasRemainingTime | None) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        value = getter()
    except Exception:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
