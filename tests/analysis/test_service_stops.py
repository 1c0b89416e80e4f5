"""With service tasks included (INCLUDE_SERVICE_TASKS=true), the service scheduler's routine stops are
not alerted: a deployment's scale-in or replacement whose container exits cleanly is the service doing
its job. A health-check kill and a non-zero exit are alerted (issue 14, "Alerts that do not promise...").

Built on events/stopped-service-task.json (a scale-in, exit 0) and the exact stoppedReason strings of
tests/aws-samples/stop-reasons.md (ServiceSchedulerInitiated rows; exit 137 with a scale-in, exit 143
with an ELB health-check kill).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecswatch.config.settings import Settings
from ecswatch.notifications.alerts import datadog_event, is_alertable
from ecswatch.run import Outcome, RunReport
from tests.fakes import SampleReport
from tests.retries.test_retries import World

SERVICE_TASK = "stopped-service-task"
SCALE_IN = "Scaling activity initiated by (deployment ecs-svc/4827339571047738211)"
ELB_KILL = (
    "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:ap-northeast-2:"
    "653734769926:targetgroup/sin-web-target-dev/ccb1c7ee670051a0)"
)
CONTAINER_KILL = "Task failed container health checks"
INCLUDED = Settings(include_service_tasks=True)


def stopped(sample_report: SampleReport, reason: str, exit_code: int | None) -> RunReport:
    def change(detail: dict[str, Any]) -> None:
        detail["stoppedReason"] = reason
        detail["containers"][0]["exitCode"] = exit_code

    report = sample_report(SERVICE_TASK, change=change, settings=INCLUDED)
    assert report.outcome is Outcome.STOPPED_BY_SCHEDULER
    return report


def test_the_sample_scale_in_is_the_scheduler_stopping_a_task_that_exited_0(
    sample_report: SampleReport,
) -> None:
    report = sample_report(SERVICE_TASK, settings=INCLUDED)

    assert (report.outcome, report.exit_code) == (Outcome.STOPPED_BY_SCHEDULER, 0)
    assert report.event.stopped_reason == SCALE_IN


@pytest.mark.parametrize(
    ("reason", "exit_code", "alerted"),
    [
        (SCALE_IN, 0, False),  # a deployment's scale-in, exited cleanly
        (SCALE_IN, None, False),  # stopped before any container exited: nothing failed
        (SCALE_IN, 137, True),  # killed after the stop timeout: it did not shut down in time
        (SCALE_IN, 1, True),
        (ELB_KILL, 143, True),  # the real pairing: SIGTERM after failed ELB health checks
        (ELB_KILL, 0, True),  # a health-check kill is news whatever the exit
        (CONTAINER_KILL, 0, True),
    ],
)
def test_only_health_check_kills_and_non_zero_exits_of_a_scheduler_stop_are_alerted(
    sample_report: SampleReport, reason: str, exit_code: int | None, alerted: bool
) -> None:
    report = stopped(sample_report, reason, exit_code)

    assert is_alertable(report, notify_success=False) is alerted


def test_a_scale_in_reaches_no_slack_channel_and_a_health_check_kill_does(
    load_event: Callable[[str], dict[str, Any]], sample_report: SampleReport
) -> None:
    world = World()

    world.stop(stopped(sample_report, SCALE_IN, 0))
    assert world.chat.posts == []

    world.stop(stopped(sample_report, ELB_KILL, 143))
    [(_, alert, _)] = world.chat.posts
    assert alert.title == "web stopped by the service scheduler"
    assert alert.cause.startswith(
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:"
    )


def test_the_datadog_event_of_a_scale_in_is_information_and_of_a_health_check_kill_a_warning(
    sample_report: SampleReport,
) -> None:
    assert datadog_event(stopped(sample_report, SCALE_IN, 0)).alert_type == "info"
    assert datadog_event(stopped(sample_report, ELB_KILL, 143)).alert_type == "warning"
