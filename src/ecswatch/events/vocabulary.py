"""AWS's words and ecswatch's own marks, defined once: event sources and detail types, the
startedBy prefixes of EventBridge rules, Scheduler schedules and ecswatch's launcher, and the
limits ECS applies to them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

TASK_STATE_CHANGE = "ECS Task State Change"

ECS_SOURCE = "aws.ecs"

API_CALL_VIA_CLOUDTRAIL = "AWS API Call via CloudTrail"

ECS_EVENT_SOURCE = "ecs.amazonaws.com"

RUN_TASK = "RunTask"

EVENTS_SERVICE = "events.amazonaws.com"

SCHEDULER_SERVICE = "scheduler.amazonaws.com"

RULE_PREFIX = "events-rule/"

SCHEDULE_PREFIX = "chronos-schedule/"

#: startedBy of tasks the retry launcher starts (RunTask allows 128 characters; the attempt follows).
RETRY_PREFIX = "ecswatch-retry"

#: startedBy of tasks a dependency chain starts; the job whose run started them follows.
CHAIN_PREFIX = "ecswatch-chain"

#: ECS keeps at most this many characters of startedBy; a value this long may be cut.
STARTED_BY_LIMIT = 36

DEFAULT_CLUSTER = "default"

FARGATE_CAPACITY_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})

#: ecswatch's watchdog stops overrunning tasks with a reason that starts with this
#: (StopTask's ``reason`` becomes the task's ``stoppedReason``).
WATCHDOG_STOP_REASON_PREFIX = "ecswatch watchdog:"

#: ``trigger`` of a request that starts the next job of a chain (attempt 1 of another job).
CHAIN_TRIGGER = "chain"


def launched_by_ecswatch(started_by: str | None) -> bool:
    """Tasks the retry launcher started (retries, manual retries, chained jobs) say so in startedBy."""
    return (started_by or "").startswith((RETRY_PREFIX + "/", CHAIN_PREFIX + "/"))


#: ARN parts as AWS forms them. A task ARN's region and account end up in console URLs
#: (``https://<region>.console.aws.amazon.com``), so a forged ``evil.example/x#`` must never pass.
AWS_PARTITION = re.compile(r"aws(?:-[a-z]+)*")
AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
#: Accounts are 12 digits; published samples shorten them when anonymising, so digits only are required.
AWS_ACCOUNT = re.compile(r"\d{1,12}")
#: ECS reports exit codes as a container runtime gives them: 32-bit signed integers.
EXIT_CODE_RANGE = range(-(2**31), 2**31)


def console_base(region: str) -> str:
    """The AWS console for a region; a region read from input has passed ``AWS_REGION`` first."""
    return f"https://{region}.console.aws.amazon.com"
