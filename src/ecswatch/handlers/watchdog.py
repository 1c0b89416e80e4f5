"""WatchdogFunction: every five minutes (EventBridge schedule), what no task event says.

Runs that take too long, starts that never come, scheduled runs that never happen
(``ecswatch.watchdog.service``). Each finding is alerted once, however many invocations see it.

An invocation that could not do everything (a cluster it may not read, Slack down) still does all
it can, then fails, so the function's Errors metric and its alarm say so; the next invocation, five
minutes later, tries again. A watchdog that stops running at all is caught by the heartbeat alarm
on its Invocations metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecswatch.adapters.factory import build_watchdog
from ecswatch.config.settings import Settings
from ecswatch.watchdog.service import Watchdog, WatchdogResult

warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
metrics = Metrics()


class WatchdogIncomplete(Exception):
    """Some check or alert could not be done this time; the message lists them."""


@cache
def watchdog() -> Watchdog:
    """Built on first use and kept for the container's life (clients, caches of schedules)."""
    return build_watchdog(Settings.from_env(), metrics=metrics)


def run(now: datetime) -> WatchdogResult:
    result = watchdog().run(now)
    for name, value in (
        ("WatchdogOverruns", result.overruns),
        ("WatchdogTasksStopped", result.stopped),
        ("WatchdogStuckStarts", result.stuck),
        ("WatchdogMissedRuns", result.missed),
        ("WatchdogRecoveries", result.recovered),
    ):
        if value:
            metrics.add_metric(name=name, unit="Count", value=value)
    logger.info("watchdog pass", extra=result.summary())
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    watchdog().register_lambda_context(context)
    result = run(datetime.now(UTC))
    if result.problems:
        logger.error("watchdog pass incomplete", extra={"problems": result.problems})
        raise WatchdogIncomplete("; ".join(result.problems)[:2000])
    return result.summary()
