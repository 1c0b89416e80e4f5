"""The watchdog catches what no task event says: runs too long, starts that never come, runs that never
happen; each alerted once, however many invocations see it.

ECS, EventBridge, Scheduler and DynamoDB are moto; time is frozen by passing ``now`` to each pass
(moto's tasks get their ``createdAt``/``startedAt``/``lastStatus`` set in its backend, since its
RunTask starts every task RUNNING at once). Slack and Datadog are recording fakes behind the real
Notifier, the run history is the in-memory one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import msgspec
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager

from ecswatch.adapters.aws.ecs_runner import task_event_from_description
from ecswatch.adapters.aws.ecs_watch import AwsScheduleFinder, EcsLiveTasks
from ecswatch.adapters.aws.reads import EcsTaskDefinitions
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard
from ecswatch.adapters.dynamodb.state import DynamoNotificationState, MemoryLineage
from ecswatch.adapters.dynamodb.watchdog_state import DynamoWatchdogState, MemoryWatchdogState
from ecswatch.config.loader import load_config, parse_config
from ecswatch.config.model import ConfigError, JobsConfig
from ecswatch.errors import TransientError
from ecswatch.events.task import TaskEvent, parse_task_event
from ecswatch.notifications.notifier import Notifier
from ecswatch.run import (
    Alert,
    DatadogEvent,
    FoundSchedule,
    Lineage,
    MessageRef,
    MetricPoint,
    Outcome,
    RunRecord,
    ScheduleWatch,
    TaskScan,
)
from ecswatch.watchdog.decisions import check_schedule, expectation_for, find_overruns, find_stuck_starts
from ecswatch.watchdog.service import Watchdog, WatchdogOptions
from local import DEMO_JOBS_CONFIG
from local.lambda_runtime import LambdaContext
from tests.fakes import MemoryRunHistory, create_state_table_from_template, report_from

pytestmark = pytest.mark.offline

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "ecswatch-state"
#: A Wednesday, 13 minutes after the nightly report was due at 02:00.
NOW = datetime(2026, 3, 4, 2, 13, tzinfo=UTC)
GRACE = timedelta(minutes=10)
#: The watchdog has been watching since long before these tests' expected runs.
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)

JOBS: dict[str, Any] = {
    "nightly-report": {
        "match": {
            "family": "nightly-report",
            "cluster": "batch",
            "started_by": "events-rule/nightly-report-*",
        },
        "slack_channel": "#reports",
        "max_run_time": "1h",
        "schedule": "cron(0 2 * * ? *)",
    },
    "invoice-export": {
        "match": {"family": "invoice-export", "cluster": "batch"},
        "max_run_time": "2h",
        "stop_on_overrun": True,
        "max_start_time": "20m",
    },
}


def jobs_config(jobs: dict[str, Any] | None = None) -> JobsConfig:
    return parse_config({"jobs": JOBS if jobs is None else jobs}, "jobs.yaml")


# ------------------------------------------------------------------ fakes


class RecordingChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, Alert, MessageRef | None]] = []
        self.updates: list[tuple[MessageRef, Alert]] = []
        self.fail_next = 0

    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("slack is down")
        self.posts.append((channel, alert, thread))
        return MessageRef(channel=channel, ts=f"1700000000.{len(self.posts):06d}")

    def update(self, ref: MessageRef, alert: Alert) -> None:
        self.updates.append((ref, alert))

    def find(self, channel: str, key: str, **_: Any) -> MessageRef | None:
        return None  # nothing posted was lost in these tests

    @property
    def alerts(self) -> list[Alert]:
        return [alert for _, alert, _ in self.posts]


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[DatadogEvent] = []

    def send_event(self, event: DatadogEvent) -> None:
        self.events.append(event)

    def add_points(self, points: list[MetricPoint]) -> None:
        raise AssertionError("the watchdog sends events, not points")

    def flush(self) -> int:
        return 0


@dataclass
class FixedLiveTasks:
    """Live tasks given as events, for tests about schedules: no ECS needed."""

    tasks: tuple[TaskEvent, ...] = ()
    stopped: list[tuple[str, str]] = field(default_factory=list)

    def scan(self) -> TaskScan:
        return TaskScan(tasks=self.tasks)

    def stop(self, task: Any, reason: str) -> None:
        self.stopped.append((task.arn, reason))


class FixedSchedules:
    def __init__(self, found: dict[str, FoundSchedule]) -> None:
        self.found = found

    def find(self, started_by: str) -> FoundSchedule | None:
        return self.found.get(started_by)


@dataclass
class World:
    """One deployment's outside world: what each watchdog built from it shares (as invocations do)."""

    chat: RecordingChat = field(default_factory=RecordingChat)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    guard: MemoryOnceGuard = field(default_factory=MemoryOnceGuard)
    history: MemoryRunHistory = field(default_factory=MemoryRunHistory)
    state: Any = field(default_factory=MemoryWatchdogState)
    threads: Any = None

    def watchdog(
        self, jobs: JobsConfig, live: Any, *, schedules: Any = None, task_definitions: Any = None
    ) -> Watchdog:
        notifier = Notifier(
            guard=self.guard,
            routing=jobs.routing,
            chat=self.chat,
            events=self.events,
            state=self.threads,
        )
        return Watchdog(
            jobs=jobs,
            live=live,
            notifier=notifier,
            guard=self.guard,
            options=WatchdogOptions(stuck_start_seconds=600, missed_run_grace_seconds=600),
            task_definitions=task_definitions,
            schedules=schedules,
            history=self.history,
            state=self.state,
        )

    def ran(self, job: str, started_at: datetime) -> None:
        self.history.record(
            RunRecord(
                job=job,
                run_id=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{started_at:%H%M%S}",
                cluster="batch",
                region=REGION,
                started_at=started_at,
            )
        )

    def watching_since(self, job: str, since: datetime) -> None:
        self.state.start_watching(job, since)


# ------------------------------------------------------------------ moto


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto moves a task one status on (RUNNING, DEACTIVATING, STOPPING...) at every DescribeTasks;
    # ECS does not, so tasks here stay as the test put them until they are stopped.
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    try:
        with mock_aws():
            yield
    finally:
        state_manager.unset_transition("ecs::task")


class Cluster:
    """ECS on moto, with tasks placed in time."""

    def __init__(self, name: str = "batch") -> None:
        self.name = name
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.ecs.create_cluster(clusterName=name)
        for family in ("nightly-report", "invoice-export", "image-resize"):
            self.ecs.register_task_definition(
                family=family,
                containerDefinitions=[
                    {
                        "name": "app",
                        "image": f"{family}:1",
                        "memory": 512,
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": f"/ecs/{family}",
                                "awslogs-region": REGION,
                                "awslogs-stream-prefix": "ecs",
                            },
                        },
                    }
                ],
            )

    def run(
        self,
        family: str,
        *,
        created: datetime,
        started: datetime | None = None,
        status: str = "RUNNING",
        started_by: str = "events-rule/nightly-report-0200",
        group: str | None = None,
        count: int = 1,
    ) -> list[str]:
        arns: list[str] = []
        while len(arns) < count:
            params: dict[str, Any] = {"group": group} if group else {}
            tasks = self.ecs.run_task(
                cluster=self.name,
                taskDefinition=family,
                launchType="FARGATE",
                startedBy=started_by,
                count=min(10, count - len(arns)),
                **params,
            )["tasks"]
            arns += [task["taskArn"] for task in tasks]
        for arn in arns:
            tasks = ecs_backends[ACCOUNT][REGION].tasks[self.name]
            task = next(t for t in tasks.values() if t.task_arn == arn)
            task.created_at = created
            task.started_at = started
            task.last_status = status
        return arns

    def describe(self, arn: str) -> dict[str, Any]:
        task: dict[str, Any] = self.ecs.describe_tasks(cluster=self.name, tasks=[arn])["tasks"][0]
        return task


def live_tasks(*clusters: str) -> EcsLiveTasks:
    return EcsLiveTasks(lambda region: boto3.client("ecs", region_name=region or REGION), clusters=clusters)


def task_definitions() -> EcsTaskDefinitions:
    return EcsTaskDefinitions(lambda region: boto3.client("ecs", region_name=region))


# ------------------------------------------------------------------ overruns


def test_a_run_longer_than_its_max_run_time_is_alerted_with_links_to_the_task_and_its_log(aws: None) -> None:
    cluster, world = Cluster(), World()
    late = cluster.run(
        "nightly-report",
        created=NOW - timedelta(hours=1, minutes=13),
        started=NOW - timedelta(hours=1, minutes=12),
    )[0]
    cluster.run("nightly-report", created=NOW - timedelta(minutes=31), started=NOW - timedelta(minutes=30))

    result = world.watchdog(jobs_config(), live_tasks("batch"), task_definitions=task_definitions()).run(NOW)

    assert result.overruns == 1
    ((channel, alert, _),) = world.chat.posts
    assert channel == "#reports"
    assert alert.title == "nightly-report running too long: 1h12m00s, over its 1h00m00s limit"
    assert "set stop_on_overrun: true" in alert.cause
    links = {link.label: link.url for link in alert.links}
    assert late.rsplit("/", 1)[-1] in links["ECS task"]
    assert "$252Fecs$252Fnightly-report/log-events/ecs$252Fapp$252F" in links["Log stream"]
    (event,) = world.events.events
    assert event.alert_type == "warning"
    assert "watchdog:overrun" in event.tags
    assert event.aggregation_key == f"ecswatch:nightly-report:{late.rsplit('/', 1)[-1]}"


def test_an_overrun_is_alerted_once_however_many_passes_see_it(aws: None) -> None:
    cluster, world = Cluster(), World()
    cluster.run("nightly-report", created=NOW - timedelta(hours=2), started=NOW - timedelta(hours=2))
    watchdog = world.watchdog(jobs_config(), live_tasks("batch"))

    first = watchdog.run(NOW)
    later = [watchdog.run(NOW + timedelta(minutes=5 * i)) for i in range(1, 4)]
    # A new container (the guard's record outlives it in DynamoDB; here the shared guard stands for it).
    fresh = world.watchdog(jobs_config(), live_tasks("batch")).run(NOW + timedelta(minutes=20))

    assert first.overruns == 1
    assert [r.overruns for r in [*later, fresh]] == [0, 0, 0, 0]
    assert len(world.chat.posts) == 1
    assert len(world.events.events) == 1


def test_exactly_at_the_limit_a_run_is_still_on_time() -> None:
    task = _event(started=NOW - timedelta(hours=1))

    assert find_overruns([task], jobs_config(), NOW) == []
    assert len(find_overruns([task], jobs_config(), NOW + timedelta(seconds=1))) == 1


def test_a_job_with_stop_on_overrun_is_stopped_and_the_stop_reads_as_timed_out(aws: None) -> None:
    cluster, world = Cluster(), World()
    (arn,) = cluster.run(
        "invoice-export", created=NOW - timedelta(hours=3), started=NOW - timedelta(hours=2, minutes=30)
    )

    result = world.watchdog(jobs_config(), live_tasks("batch")).run(NOW)

    stopped = cluster.describe(arn)
    assert result.stopped == 1
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "ecswatch watchdog: exceeded max run time 2h00m00s (ran 2h30m00s)"
    assert "ecswatch is stopping it" in world.chat.alerts[0].cause
    report = report_from(task_event_from_description(stopped, REGION, ACCOUNT))
    assert report.outcome is Outcome.TIMED_OUT
    assert report.cause == "stopped by ecswatch: exceeded max run time 2h00m00s (ran 2h30m00s)"


def test_a_job_without_stop_on_overrun_keeps_running(aws: None) -> None:
    cluster, world = Cluster(), World()
    (arn,) = cluster.run("nightly-report", created=NOW - timedelta(hours=3), started=NOW - timedelta(hours=3))

    result = world.watchdog(jobs_config(), live_tasks("batch")).run(NOW)

    assert result.overruns == 1
    assert result.stopped == 0
    assert cluster.describe(arn)["lastStatus"] == "RUNNING"


def test_tasks_of_jobs_without_a_max_run_time_never_overrun() -> None:
    task = _event(family="adhoc-script", started=NOW - timedelta(days=3))

    assert find_overruns([task], jobs_config(), NOW) == []


# ------------------------------------------------------------------ stuck starts


def test_a_task_pending_longer_than_the_threshold_is_alerted_once_with_how_long_it_waited(aws: None) -> None:
    cluster, world = Cluster(), World()
    cluster.run("nightly-report", created=NOW - timedelta(minutes=14), status="PENDING")
    cluster.run("nightly-report", created=NOW - timedelta(minutes=3), status="PROVISIONING")
    watchdog = world.watchdog(jobs_config(), live_tasks("batch"))

    first, second = watchdog.run(NOW), watchdog.run(NOW + timedelta(minutes=5))

    assert (first.stuck, second.stuck) == (1, 0)
    (alert,) = world.chat.alerts
    assert alert.title == "nightly-report has not started after 14m00s (PENDING)"
    assert alert.cause.startswith("PENDING for 14m00s since 2026-03-04 01:59:00 UTC, longer than 10m00s")
    assert dict(alert.fields)["Waiting for"] == "14m00s"


def test_a_jobs_max_start_time_replaces_the_default_threshold() -> None:
    waiting = _event(family="invoice-export", created=NOW - timedelta(minutes=15), status="PROVISIONING")

    assert find_stuck_starts([waiting], jobs_config(), NOW, default_limit_seconds=600) == []
    (stuck,) = find_stuck_starts(
        [waiting], jobs_config(), NOW + timedelta(minutes=6), default_limit_seconds=600
    )
    assert stuck.limit_seconds == 20 * 60


def test_a_task_of_no_configured_job_that_cannot_start_is_alerted_too() -> None:
    waiting = _event(family="adhoc-script", created=NOW - timedelta(minutes=30), status="PENDING")

    (stuck,) = find_stuck_starts([waiting], jobs_config(), NOW, default_limit_seconds=600)
    assert stuck.job.name == "adhoc-script"
    assert not stuck.job.configured


def test_a_started_task_is_never_a_stuck_start() -> None:
    running = _event(created=NOW - timedelta(hours=1), started=NOW - timedelta(minutes=50))

    assert find_stuck_starts([running], jobs_config(), NOW, default_limit_seconds=600) == []


def test_service_tasks_are_left_to_their_service_unless_the_deployment_includes_them() -> None:
    service = _event(created=NOW - timedelta(hours=1), status="PENDING", group="service:web")

    assert find_stuck_starts([service], jobs_config(), NOW, default_limit_seconds=600) == []
    assert find_stuck_starts(
        [service], jobs_config(), NOW, default_limit_seconds=600, include_service_tasks=True
    )


# ------------------------------------------------------------------ scale and failures


class PagedEcs:
    """ECS as AWS pages it, over moto (which answers every ARN in one page and any number of tasks):
    ListTasks gives at most ``maxResults`` (<= 100) ARNs and a ``nextToken``; DescribeTasks refuses
    more than 100 tasks."""

    def __init__(self) -> None:
        self._client = boto3.client("ecs", region_name=REGION)

    def list_tasks(self, *, maxResults: int, nextToken: str = "", **params: Any) -> dict[str, Any]:  # noqa: N803
        assert maxResults <= 100
        arns = self._client.list_tasks(**params)["taskArns"]
        start = int(nextToken or 0)
        page: dict[str, Any] = {"taskArns": arns[start : start + maxResults]}
        if start + maxResults < len(arns):
            page["nextToken"] = str(start + maxResults)
        return page

    def describe_tasks(self, *, tasks: list[str], **params: Any) -> dict[str, Any]:
        if len(tasks) > 100:
            error = {"Error": {"Code": "InvalidParameterException", "Message": "at most 100 tasks"}}
            raise ClientError(error, "DescribeTasks")  # type: ignore[arg-type]
        result: dict[str, Any] = self._client.describe_tasks(tasks=tasks, **params)
        return result


def test_a_cluster_with_hundreds_of_tasks_is_read_in_pages_of_100(aws: None) -> None:
    cluster, world = Cluster(), World()
    overrunning = cluster.run(
        "nightly-report", created=NOW - timedelta(hours=2), started=NOW - timedelta(hours=2), count=130
    )
    cluster.run(
        "image-resize", created=NOW - timedelta(minutes=5), started=NOW - timedelta(minutes=4), count=120
    )
    paged = PagedEcs()
    live = EcsLiveTasks(lambda region: paged, clusters=["batch"])  # type: ignore[arg-type,return-value]

    result = world.watchdog(jobs_config(), live).run(NOW)

    assert result.tasks == 250
    assert live.calls == {"ListTasks": 3, "DescribeTasks": 3}
    assert result.overruns == 130
    assert {alert.run_key for alert in world.chat.alerts} == set(overrunning)


def test_clusters_are_listed_when_the_deployment_watches_every_cluster(aws: None) -> None:
    Cluster("batch").run("nightly-report", created=NOW - timedelta(hours=2), started=NOW - timedelta(hours=2))
    Cluster("legacy").run("image-resize", created=NOW - timedelta(hours=2), status="PENDING")
    live = live_tasks()

    scan = live.scan()

    assert {task.task.cluster for task in scan.tasks} == {"batch", "legacy"}
    assert live.calls["ListClusters"] == 1


def test_a_cluster_that_cannot_be_read_is_reported_and_the_others_are_still_checked(aws: None) -> None:
    cluster, world = Cluster(), World()
    cluster.run("nightly-report", created=NOW - timedelta(hours=2), started=NOW - timedelta(hours=2))

    result = world.watchdog(jobs_config(), live_tasks("gone", "batch")).run(NOW)

    assert result.overruns == 1
    assert len(result.problems) == 1
    assert result.problems[0].startswith("cluster gone (default region): ClusterNotFoundException")


def test_a_slack_outage_is_reported_and_the_next_pass_sends_the_alert_without_resending_datadog(
    aws: None,
) -> None:
    cluster, world = Cluster(), World()
    cluster.run("nightly-report", created=NOW - timedelta(hours=2), started=NOW - timedelta(hours=2))
    world.chat.fail_next = 1
    watchdog = world.watchdog(jobs_config(), live_tasks("batch"))

    failed = watchdog.run(NOW)
    retried = watchdog.run(NOW + timedelta(minutes=5))

    assert failed.overruns == 0
    assert "slack is down" in failed.problems[0]
    assert (retried.overruns, retried.problems) == (1, [])
    assert len(world.chat.posts) == 1
    assert len(world.events.events) == 1


# ------------------------------------------------------------------ missed runs


def test_a_run_not_started_within_the_grace_period_is_alerted_as_missed() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    world.ran("nightly-report", datetime(2026, 3, 3, 2, 0, 4, tzinfo=UTC))

    result = world.watchdog(jobs_config(), FixedLiveTasks()).run(NOW)

    assert result.missed == 1
    ((channel, alert, _),) = world.chat.posts
    assert channel == "#reports"
    assert alert.title == "nightly-report did not run: expected at 02:00 UTC"
    assert alert.cause == "expected at 02:00 UTC, not started by 02:10"
    fields = dict(alert.fields)
    assert fields["Schedule"] == "cron(0 2 * * ? *): every day at 02:00 UTC"
    assert fields["From"] == "jobs config"
    assert fields["Last run started"] == "2026-03-03 02:00:04 UTC"
    (event,) = world.events.events
    assert (event.alert_type, event.aggregation_key) == ("error", "ecswatch:nightly-report:missed:1772589600")


def test_exactly_at_the_end_of_the_grace_period_the_run_is_not_missed_yet() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    world.ran("nightly-report", datetime(2026, 3, 3, 2, 0, 4, tzinfo=UTC))

    on_time = world.watchdog(jobs_config(), FixedLiveTasks()).run(datetime(2026, 3, 4, 2, 10, tzinfo=UTC))

    assert on_time.missed == 0
    assert world.chat.posts == []


def test_a_run_that_started_late_but_before_the_pass_is_not_missed() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    world.ran("nightly-report", datetime(2026, 3, 4, 2, 11, tzinfo=UTC))

    assert world.watchdog(jobs_config(), FixedLiveTasks()).run(NOW).missed == 0


def test_a_task_still_waiting_to_start_counts_as_the_scheduled_run() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    waiting = _event(created=datetime(2026, 3, 4, 2, 5, tzinfo=UTC), status="PENDING")

    result = world.watchdog(jobs_config(), FixedLiveTasks((waiting,))).run(NOW)

    assert result.missed == 0
    assert result.stuck == 0  # waiting 8 minutes: not stuck yet either


def test_no_run_is_expected_before_the_watchdog_first_saw_the_job() -> None:
    world = World()  # first pass ever, at 02:13: the 02:00 run was due before anyone watched

    first = world.watchdog(jobs_config(), FixedLiveTasks()).run(NOW)
    next_night = world.watchdog(jobs_config(), FixedLiveTasks()).run(NOW + timedelta(days=1))

    assert (first.missed, next_night.missed) == (0, 1)


def test_an_outage_is_alerted_once_not_once_per_expected_run() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    watchdog = world.watchdog(jobs_config(), FixedLiveTasks())

    passes = [watchdog.run(NOW + timedelta(minutes=5 * i)) for i in range(3)]
    next_night = watchdog.run(NOW + timedelta(days=1))

    assert [p.missed for p in passes] == [1, 0, 0]
    assert next_night.missed == 0
    assert len(world.chat.posts) == 1


def test_when_the_job_runs_again_one_recovery_goes_into_the_missed_alerts_thread(aws: None) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    create_state_table_from_template(client, TABLE)
    world = World(threads=DynamoNotificationState(client, TABLE), state=DynamoWatchdogState(client, TABLE))
    world.watching_since("nightly-report", LONG_AGO)
    world.watchdog(jobs_config(), FixedLiveTasks()).run(NOW)
    world.ran("nightly-report", datetime(2026, 3, 4, 2, 31, tzinfo=UTC))

    back = world.watchdog(jobs_config(), FixedLiveTasks()).run(datetime(2026, 3, 4, 2, 35, tzinfo=UTC))
    again = world.watchdog(jobs_config(), FixedLiveTasks()).run(datetime(2026, 3, 4, 2, 40, tzinfo=UTC))

    assert (back.recovered, again.recovered) == (1, 0)
    (_, recovery) = world.chat.posts
    thread = recovery[2]
    assert thread is not None
    assert thread.ts == "1700000000.000001"  # the missed alert's
    assert recovery[1].title == "nightly-report ran again: started 2026-03-04 02:31:00 UTC"
    assert recovery[1].cause == "a run started 31m00s after the missed start expected at 02:00 UTC"
    ((_, parent),) = world.chat.updates
    assert parent.title == "nightly-report missed its 02:00 UTC start; ran again 2026-03-04 02:31:00 UTC"
    assert world.state.schedule_watches()["nightly-report"].missed is None


def test_after_a_recovery_a_later_miss_is_alerted_again() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    watchdog = world.watchdog(jobs_config(), FixedLiveTasks())
    watchdog.run(NOW)
    world.ran("nightly-report", datetime(2026, 3, 4, 2, 31, tzinfo=UTC))
    watchdog.run(datetime(2026, 3, 4, 2, 35, tzinfo=UTC))

    next_night = watchdog.run(NOW + timedelta(days=1))

    assert next_night.missed == 1
    assert world.chat.alerts[-1].title == "nightly-report did not run: expected at 02:00 UTC"
    assert world.chat.alerts[-1].run_key.endswith("2026-03-05T02:00:00+00:00")


def test_a_rate_job_is_expected_one_period_after_its_last_start() -> None:
    jobs = jobs_config({"data-sync": {"match": {"family": "data-sync"}, "schedule": "rate(1 hour)"}})
    world = World()
    world.watching_since("data-sync", LONG_AGO)
    world.ran("data-sync", datetime(2026, 3, 4, 1, 0, 30, tzinfo=UTC))
    watchdog = world.watchdog(jobs, FixedLiveTasks())

    on_time = watchdog.run(datetime(2026, 3, 4, 2, 10, 30, tzinfo=UTC))
    late = watchdog.run(datetime(2026, 3, 4, 2, 10, 31, tzinfo=UTC))

    assert (on_time.missed, late.missed) == (0, 1)
    assert world.chat.alerts[0].cause == "expected at 02:00 UTC, not started by 02:10"


def test_the_schedule_is_read_from_the_eventbridge_rule_that_starts_the_job(aws: None) -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="image-resize-hourly", ScheduleExpression="cron(15 * * * ? *)")
    events.put_rule(Name="image-resize-backfill", EventPattern='{"source": ["backfill"]}')
    jobs = jobs_config(
        {"image-resize": {"match": {"family": "image-resize", "started_by": "events-rule/image-resize-*"}}}
    )
    world = World()
    world.watching_since("image-resize", LONG_AGO)
    finder = _finder()

    result = world.watchdog(jobs, FixedLiveTasks(), schedules=finder).run(
        datetime(2026, 3, 4, 2, 26, tzinfo=UTC)
    )

    assert result.missed == 1
    fields = dict(world.chat.alerts[0].fields)
    assert fields["From"] == "EventBridge rule image-resize-hourly"
    assert world.chat.alerts[0].cause == "expected at 02:15 UTC, not started by 02:25"


def test_a_disabled_rule_expects_no_runs_even_when_the_config_names_a_schedule(aws: None) -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="nightly-report-0200", ScheduleExpression="cron(0 2 * * ? *)", State="DISABLED")
    world = World()
    world.watching_since("nightly-report", LONG_AGO)

    result = world.watchdog(jobs_config(), FixedLiveTasks(), schedules=_finder()).run(NOW)

    assert (result.scheduled_jobs, result.missed) == (0, 0)


def test_a_rule_name_cut_to_36_characters_is_found_by_its_beginning(aws: None) -> None:
    events = boto3.client("events", region_name=REGION)
    name = "nightly-report-eu-west-1-production-0200"
    events.put_rule(Name=name, ScheduleExpression="cron(0 2 * * ? *)")
    started_by = f"events-rule/{name}"[:36]

    found = _finder().find(started_by)

    assert found == FoundSchedule(expression="cron(0 2 * * ? *)", source=f"EventBridge rule {name}")


def test_a_scheduler_schedule_brings_its_time_zone_start_and_flexible_window(aws: None) -> None:
    scheduler = boto3.client("scheduler", region_name=REGION)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)  # Scheduler refuses a past start
    scheduler.create_schedule(
        Name="data-sync-hourly",
        ScheduleExpression="cron(0 3 * * ? *)",
        ScheduleExpressionTimezone="Europe/Dublin",
        StartDate=start,
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={
            "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
        },
    )
    finder = _finder()

    found = finder.find("chronos-schedule/data-sync-hourly")
    finder.find("chronos-schedule/data-sync-hourly")

    assert found is not None
    assert (found.timezone, found.start, found.flexible_window_seconds) == (
        "Europe/Dublin",
        start,
        900,
    )
    assert finder.calls == 1  # cached
    job = jobs_config({"data-sync": {"match": {"family": "data-sync"}}}).jobs[0]
    expectation = expectation_for(job, found, GRACE)
    assert expectation is not None
    assert expectation.grace == timedelta(minutes=25)


#: A Scheduler schedule whose name is longer than the 19 characters startedBy keeps of it.
LONG_SCHEDULE = "warehouse-nightly-load-eu"
CUT_STARTED_BY = f"chronos-schedule/{LONG_SCHEDULE}"[:36]  # chronos-schedule/warehouse-nightly-lo


def test_a_scheduler_schedule_name_cut_to_36_characters_is_found_by_its_beginning_in_any_group(
    aws: None,
) -> None:
    _create_schedule(LONG_SCHEDULE, group="etl", expression="cron(30 1 * * ? *)")
    _create_schedule("invoice-export-hourly")

    found = _finder().find(CUT_STARTED_BY)

    assert found == FoundSchedule(
        expression="cron(30 1 * * ? *)", source=f"Scheduler schedule etl/{LONG_SCHEDULE}"
    )


def test_a_cut_schedule_name_two_schedules_begin_with_is_not_guessed(aws: None) -> None:
    _create_schedule(LONG_SCHEDULE)
    _create_schedule("warehouse-nightly-load-us")

    assert _finder().find(CUT_STARTED_BY) is None


def test_a_cut_schedule_name_is_looked_up_through_every_page_of_list_schedules(aws: None) -> None:
    scheduler = boto3.client("scheduler", region_name=REGION)
    stub = Stubber(scheduler)
    cut = CUT_STARTED_BY.removeprefix("chronos-schedule/")
    stub.add_client_error(
        "get_schedule", "ResourceNotFoundException", "Schedule not found", 404, expected_params={"Name": cut}
    )
    stub.add_response("list_schedules", {"Schedules": [], "NextToken": "page-2"}, {"NamePrefix": cut})
    summary = {"Name": LONG_SCHEDULE, "GroupName": "default", "Target": {"Arn": "arn:aws:ecs:x"}}
    stub.add_response("list_schedules", {"Schedules": [summary]}, {"NamePrefix": cut, "NextToken": "page-2"})
    stub.add_response(
        "get_schedule",
        {"Name": LONG_SCHEDULE, "GroupName": "default", "ScheduleExpression": "rate(1 day)"},
        {"Name": LONG_SCHEDULE, "GroupName": "default"},
    )
    finder = AwsScheduleFinder(boto3.client("events", region_name=REGION), scheduler)

    with stub:
        found = finder.find(CUT_STARTED_BY)

    stub.assert_no_pending_responses()
    assert found == FoundSchedule(expression="rate(1 day)", source=f"Scheduler schedule {LONG_SCHEDULE}")
    assert finder.calls == 4


def test_a_schedule_name_that_matches_nothing_is_no_schedule_and_no_problem(aws: None) -> None:
    _create_schedule("invoice-export-hourly")
    jobs = jobs_config(
        {
            "warehouse": {"match": {"family": "warehouse", "started_by": CUT_STARTED_BY}},
            "data-sync": {"match": {"family": "data-sync", "started_by": "chronos-schedule/data-sync"}},
        }
    )
    finder = _finder()

    result = World().watchdog(jobs, FixedLiveTasks(), schedules=finder).run(NOW)

    assert (result.scheduled_jobs, result.problems) == (0, [])
    assert finder.calls == 3  # GetSchedule and ListSchedules for the cut name; GetSchedule alone else


@pytest.mark.parametrize(
    ("refused", "action"),
    [("get_schedule", "scheduler:GetSchedule"), ("list_schedules", "scheduler:ListSchedules")],
)
def test_a_schedule_the_watchdog_may_not_read_is_a_problem_of_the_pass_naming_the_permission(
    aws: None, refused: str, action: str
) -> None:
    scheduler = boto3.client("scheduler", region_name=REGION)
    stub = Stubber(scheduler)
    denied = f"User: arn:aws:sts::{ACCOUNT}:assumed-role/watchdog is not authorized to perform: {action}"
    if refused == "list_schedules":
        stub.add_client_error("get_schedule", "ResourceNotFoundException", "Schedule not found", 404)
    stub.add_client_error(refused, "AccessDeniedException", denied, 400)
    jobs = jobs_config(
        {
            "warehouse": {"match": {"family": "warehouse", "started_by": CUT_STARTED_BY}},
            "nightly-report": {"match": {"family": "nightly-report"}, "schedule": "cron(0 2 * * ? *)"},
        }
    )
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    finder = AwsScheduleFinder(boto3.client("events", region_name=REGION), scheduler)

    with stub:
        result = world.watchdog(jobs, FixedLiveTasks(), schedules=finder).run(NOW)

    assert result.problems == [
        f"warehouse: schedule not checked: {action} refused (AccessDeniedException: {denied}): "
        f"the watchdog function's role needs {action}"
    ]
    assert result.missed == 1  # the other jobs are still checked


def test_a_scheduler_schedules_rate_is_placed_from_its_start_date() -> None:
    job = jobs_config({"data-sync": {"match": {"family": "data-sync"}}}).jobs[0]
    found = FoundSchedule(
        expression="rate(6 hours)",
        source="Scheduler schedule s",
        start=datetime(2026, 3, 1, 1, 0, tzinfo=UTC),
    )
    expectation = expectation_for(job, found, GRACE)
    assert expectation is not None
    watch = ScheduleWatch(job="data-sync", watched_since=LONG_AGO)

    verdict = check_schedule(expectation, watch, lambda job, since: None, NOW)

    assert verdict is not None
    assert verdict.expected == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)


def test_a_schedule_past_its_end_date_expects_nothing() -> None:
    job = jobs_config({"data-sync": {"match": {"family": "data-sync"}}}).jobs[0]
    found = FoundSchedule(
        expression="cron(0 2 * * ? *)", source="Scheduler schedule s", end=datetime(2026, 3, 1, tzinfo=UTC)
    )
    expectation = expectation_for(job, found, GRACE)
    assert expectation is not None

    assert (
        check_schedule(expectation, ScheduleWatch("data-sync", LONG_AGO), lambda job, since: None, NOW)
        is None
    )


def test_the_watchdog_state_is_shared_by_containers_through_the_table(aws: None) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    create_state_table_from_template(client, TABLE)
    first, second = DynamoWatchdogState(client, TABLE), DynamoWatchdogState(client, TABLE)
    missed = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)

    assert first.start_watching("nightly-report", LONG_AGO).watched_since == LONG_AGO
    assert second.start_watching("nightly-report", NOW).watched_since == LONG_AGO
    first.open_miss("nightly-report", missed)
    second.open_miss("nightly-report", missed + timedelta(days=1))  # an open miss is not replaced
    second.close_miss("nightly-report", missed + timedelta(days=1))  # nor closed by another miss
    assert first.schedule_watches() == {
        "nightly-report": ScheduleWatch("nightly-report", watched_since=LONG_AGO, missed=missed)
    }
    second.close_miss("nightly-report", missed)
    assert first.schedule_watches()["nightly-report"].missed is None


# ------------------------------------------------------------------ the function


@pytest.fixture
def deployed(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler as deployed: settings from the environment, the demo's jobs config, the state table."""
    from ecswatch.handlers import watchdog as handler

    create_state_table_from_template(boto3.client("dynamodb", region_name=REGION), TABLE)
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    monkeypatch.setenv("WATCH_CLUSTERS", "batch")
    monkeypatch.setenv("JOBS_CONFIG_PATH", str(DEMO_JOBS_CONFIG))
    # The module made its Powertools objects at import (collection), before these were set.
    monkeypatch.setattr(handler.metrics, "namespace", "ecswatch")
    monkeypatch.setattr(handler.metrics, "service", "ecswatch")
    handler.watchdog.cache_clear()
    yield handler
    handler.watchdog.cache_clear()


def test_the_function_checks_the_watched_clusters_and_reports_what_it_did(deployed: Any) -> None:
    now = datetime.now(UTC)
    Cluster().run("nightly-report", created=now - timedelta(hours=2), started=now - timedelta(hours=2))

    first = deployed.lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    second = deployed.lambda_handler({"source": "aws.scheduler"}, LambdaContext())

    assert (first["tasks"], first["overruns_alerted"]) == (1, 1)
    assert second["overruns_alerted"] == 0  # the guard's records are in the state table
    assert first["scheduled_jobs"] == len([job for job in load_config(DEMO_JOBS_CONFIG).jobs if job.schedule])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # a failed pass counts nothing
def test_the_function_fails_when_it_could_not_check_everything(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCH_CLUSTERS", "batch,gone")
    Cluster()

    with pytest.raises(deployed.WatchdogIncomplete, match="cluster gone"):
        deployed.lambda_handler({"source": "aws.scheduler"}, LambdaContext())


# ------------------------------------------------------------------ config


def test_stop_on_overrun_needs_a_max_run_time() -> None:
    with pytest.raises(ConfigError) as raised:
        jobs_config({"x": {"match": {"family": "x"}, "stop_on_overrun": True}})
    assert raised.value.problems == (
        "jobs.yaml: jobs.x.stop_on_overrun: needs max_run_time (the limit a run must exceed)",
    )


def test_max_start_time_is_a_duration() -> None:
    with pytest.raises(ConfigError) as raised:
        jobs_config({"x": {"match": {"family": "x"}, "max_start_time": 600}})
    assert raised.value.problems == (
        "jobs.yaml: jobs.x.max_start_time: must be a duration like '2h', '90m', '45s' or '1h30m', not 600",
    )


def test_a_schedule_aws_would_refuse_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        jobs_config({"x": {"match": {"family": "x"}, "schedule": "cron(0 2 * * * *)"}})
    assert raised.value.problems == (
        "jobs.yaml: jobs.x.schedule: cron(0 2 * * * *): day-of-month and day-of-week cannot both be '*'; "
        "one must be '?'",
    )


# ------------------------------------------------------------------ helpers


def _finder() -> AwsScheduleFinder:
    return AwsScheduleFinder(
        boto3.client("events", region_name=REGION), boto3.client("scheduler", region_name=REGION)
    )


def _create_schedule(name: str, *, group: str = "default", expression: str = "cron(0 3 * * ? *)") -> None:
    scheduler = boto3.client("scheduler", region_name=REGION)
    if group != "default":
        scheduler.create_schedule_group(Name=group)
    scheduler.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
        },
    )


def _event(
    *,
    family: str = "nightly-report",
    created: datetime | None = None,
    started: datetime | None = None,
    status: str | None = None,
    group: str | None = None,
) -> TaskEvent:
    """A live task as DescribeTasks describes it, read the way the watchdog reads one."""
    task_id = f"{hash((family, created, started, status, group)) & 0xFFFFFFFF:032x}"
    described: dict[str, Any] = {
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{task_id}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:3",
        "lastStatus": status or ("RUNNING" if started else "PENDING"),
        "desiredStatus": "RUNNING",
        "group": group or f"family:{family}",
        "startedBy": "events-rule/nightly-report-0200",
        "launchType": "FARGATE",
        "containers": [{"name": "app", "lastStatus": status or "RUNNING"}],
    }
    if created or started:
        described["createdAt"] = created or started
    if started:
        described["startedAt"] = started
    return parse_task_event(task_event_from_description(described, REGION, ACCOUNT, now=NOW))


def test_a_recovery_slack_refused_once_is_posted_on_the_next_pass() -> None:
    world = World()
    world.watching_since("nightly-report", LONG_AGO)
    watchdog = world.watchdog(jobs_config(), FixedLiveTasks())
    watchdog.run(NOW)
    world.ran("nightly-report", datetime(2026, 3, 4, 2, 31, tzinfo=UTC))
    post = world.chat.post

    def down(*_: Any, **__: Any) -> Any:
        raise TransientError("slack 503")

    world.chat.post = down  # type: ignore[method-assign]
    first = watchdog.run(datetime(2026, 3, 4, 2, 35, tzinfo=UTC))
    world.chat.post = post  # type: ignore[method-assign]
    second = watchdog.run(datetime(2026, 3, 4, 2, 40, tzinfo=UTC))

    assert (first.recovered, second.recovered) == (0, 1)
    assert world.state.schedule_watches()["nightly-report"].missed is None


def test_a_retry_of_a_job_is_held_to_the_jobs_max_run_time_through_its_lineage() -> None:
    retry = msgspec.structs.replace(_event(started=NOW - timedelta(hours=2)), started_by="ecswatch-retry/2")

    without_lineage = find_overruns([retry], jobs_config(), NOW)
    with_lineage = find_overruns([retry], jobs_config(), NOW, named={retry.task.arn: "nightly-report"})

    assert without_lineage == []  # its startedBy no longer matches events-rule/nightly-report-*
    assert [o.job.name for o in with_lineage] == ["nightly-report"]


def test_a_running_retry_that_overruns_is_alerted_as_its_job(aws: None) -> None:
    cluster, world = Cluster(), World()
    [retry] = cluster.run(
        "nightly-report",
        created=NOW - timedelta(hours=2),
        started=NOW - timedelta(hours=2),
        started_by="ecswatch-retry/2",
    )
    lineage = MemoryLineage()
    lineage.record_lineage(retry, Lineage(root_task_arn="arn:root", attempt=2, of=3, job="nightly-report"))
    watchdog = world.watchdog(jobs_config(), live_tasks("batch"))
    watchdog._lineage = lineage

    result = watchdog.run(NOW)

    assert result.overruns == 1
    [(channel, alert, _)] = world.chat.posts
    assert (channel, alert.job) == ("#reports", "nightly-report")
