"""Find the EventBridge Scheduler schedule a task's startedBy names (``chronos-schedule/<name>``).

ECS keeps 36 characters of startedBy, so only 19 of a schedule's name may survive. A name that
GetSchedule does not know, and that may have been cut, is looked up by prefix across every
schedule group and taken when exactly one schedule begins with it. Used by the retry path (the
schedule's network) and the watchdog (its schedule expression); each passes its own ``call``,
which counts the call and turns AWS errors into what that caller needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ecswatch.adapters.aws.reads import error_code

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

logger = Logger(child=True)

#: ``call(iam_action, operation, **params)``: one API call, as the caller counts and maps it.
Call = Callable[..., Any]


def find_schedule(
    client: EventBridgeSchedulerClient, name: str, *, maybe_cut: bool, call: Call
) -> Mapping[str, Any] | None:
    """GetSchedule's answer for the schedule ``name`` names; None when a cut name matches no one
    schedule. Other errors are the caller's (raised by ``call``, or as ClientError)."""
    try:
        found: Mapping[str, Any] = call("scheduler:GetSchedule", client.get_schedule, Name=name)
    except ClientError as e:
        if error_code(e) != "ResourceNotFoundException" or not maybe_cut:
            raise
        whole = _only_schedule_starting(client, name, call)
        if whole is None:
            return None
        found = call("scheduler:GetSchedule", client.get_schedule, Name=whole[0], GroupName=whole[1])
    return found


def _only_schedule_starting(
    client: EventBridgeSchedulerClient, prefix: str, call: Call
) -> tuple[str, str] | None:
    """(name, group) of the one schedule, in any group, whose name begins with a cut name."""
    found: list[tuple[str, str]] = []
    token = ""
    while True:
        page = call(
            "scheduler:ListSchedules",
            client.list_schedules,
            NamePrefix=prefix,
            **({"NextToken": token} if token else {}),
        )
        found += [
            (str(s["Name"]), str(s.get("GroupName") or "default"))
            for s in page.get("Schedules", [])
            if s.get("Name")
        ]
        token = page.get("NextToken", "")
        if not token:
            break
    if len(found) != 1:
        logger.warning(
            "several schedules begin with the cut name; name the schedule in the job config"
            if found
            else "no schedule begins with the cut name",
            extra={"prefix": prefix, "schedules": [f"{group}/{name}" for name, group in found]},
        )
        return None
    return found[0]
