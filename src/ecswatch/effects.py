"""Run every outside effect of one event, even when an earlier one failed; then raise the first failure.

One event has several independent effects (a Datadog event, a Slack alert, a retry, a chained job,
a history record). A Slack outage must not hold back the retry, nor dead-letter the event with the
retry never queued; each effect is idempotent under its own key, so the redelivery the failure
causes finds the ones that succeeded already done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def run_each(actions: Iterable[Callable[[], object]]) -> None:
    failure: Exception | None = None
    for action in actions:
        try:
            action()
        except Exception as e:
            failure = failure or e
    if failure is not None:
        raise failure
