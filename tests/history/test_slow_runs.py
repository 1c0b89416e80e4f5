"""The slow-run warning: a successful run that takes more than ``factor`` x the job's usual run time.

Usual is the median run time of the job's last 20 successful runs before this one, and there is no
verdict before 5 of them exist. "More than" is strict: a run exactly at the factor is usual.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard
from ecswatch.config.loader import parse_config
from ecswatch.config.model import ConfigError, JobsConfig, SlowRunConfig
from ecswatch.config.routing import Routing
from ecswatch.errors import TransientError
from ecswatch.history.records import SLOW_RUN_READ, HistoryRecorder, run_record, slow_run, usual_run_time
from ecswatch.notifications.notifier import Notifier
from ecswatch.run import Alert, Attempt, DatadogEvent, MessageRef, MetricPoint, RunRecord, RunReport
from tests.fakes import MemoryRunHistory, MemoryThreads, SampleReport

T0 = datetime(2025, 3, 1, tzinfo=UTC)
ARN = "arn:aws:ecs:eu-west-1:123456789012:task/batch/"


def run(
    seconds: float | None, *, day: int = 0, outcome: str = "succeeded", job: str = "nightly-report"
) -> RunRecord:
    return RunRecord(
        job=job,
        run_id=f"{ARN}{day + 1000:032x}",
        cluster="batch",
        region="eu-west-1",
        started_at=T0 - timedelta(days=day),
        outcome=outcome,
        durations={"run": seconds},
    )


def earlier(*seconds: float, outcome: str = "succeeded") -> list[RunRecord]:
    """Earlier runs, newest first, one a day before T0."""
    return [run(s, day=i + 1, outcome=outcome) for i, s in enumerate(seconds)]


# --------------------------------------------------------------------------- the rule at its edges


def test_four_earlier_runs_are_too_few_to_call_any_run_slow() -> None:
    assert slow_run(run(6000.0), earlier(600, 600, 600, 600), factor=2.0) is None


def test_with_five_earlier_runs_a_run_over_twice_the_median_is_slow() -> None:
    verdict = slow_run(run(1500.0), earlier(600, 600, 600, 600, 600), factor=2.0)

    assert verdict is not None
    assert (verdict.run_time, verdict.median, verdict.ratio) == (1500.0, 600.0, 2.5)


def test_a_run_exactly_at_the_factor_is_not_slow() -> None:
    assert slow_run(run(1200.0), earlier(600, 600, 600, 600, 600), factor=2.0) is None


def test_a_run_a_millisecond_over_the_factor_is_slow() -> None:
    assert slow_run(run(1200.001), earlier(600, 600, 600, 600, 600), factor=2.0) is not None


def test_a_fractional_factor_is_exact_at_its_edge() -> None:
    baseline = earlier(100, 100, 100, 100, 100)

    assert slow_run(run(150.0), baseline, factor=1.5) is None
    assert slow_run(run(150.001), baseline, factor=1.5) is not None


def test_only_the_last_20_successful_runs_make_the_usual() -> None:
    recent = earlier(*([100.0] * 20))
    older = [run(5000.0, day=100 + i) for i in range(30)]

    verdict = slow_run(run(250.0), recent + older, factor=2.0)

    assert verdict is not None
    assert verdict.median == 100.0


def test_failed_runs_do_not_count_towards_the_usual_or_the_minimum() -> None:
    baseline = earlier(600, 600, 600, 600) + earlier(60, 60, 60, 60, 60, 60, outcome="failed")

    assert slow_run(run(6000.0), baseline, factor=2.0) is None


def test_a_failed_run_is_never_slow() -> None:
    assert slow_run(run(6000.0, outcome="failed"), earlier(600, 600, 600, 600, 600), factor=2.0) is None


def test_the_run_itself_is_never_part_of_its_own_baseline() -> None:
    """A redelivered stop finds its own record in the history; it must not lower the bar."""
    this = run(1500.0)

    assert slow_run(this, [this, *earlier(600, 600, 600, 600)], factor=2.0) is None


def test_runs_without_a_known_run_time_do_not_count_towards_the_minimum() -> None:
    unknown = [replace(r, durations={"run": None}) for r in earlier(600, 600)]

    assert slow_run(run(6000.0), unknown + earlier(600, 600, 600, 600), factor=2.0) is None


# --------------------------------------------------------------------------- what is usual


def test_usual_run_time_is_the_median_and_nearest_rank_p95() -> None:
    stats = usual_run_time(earlier(*range(1, 21)))

    assert (stats.count, stats.median, stats.p95) == (20, 10.5, 19)


def test_the_median_of_an_odd_number_of_runs_is_the_middle_one() -> None:
    assert usual_run_time(earlier(30, 10, 20)).median == 20


def test_a_job_without_successful_runs_has_no_usual() -> None:
    stats = usual_run_time(earlier(10, 20, outcome="failed"))

    assert (stats.count, stats.median, stats.p95) == (0, None, None)


# --------------------------------------------------------------------------- the recorder


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[DatadogEvent] = []

    def send_event(self, event: DatadogEvent) -> None:
        self.events.append(event)

    def add_points(self, points: list[MetricPoint]) -> None:
        raise AssertionError("the recorder sends no metric points")

    def flush(self) -> int:
        return 0


class RecordingChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, Alert, MessageRef | None]] = []
        self.fail_next = 0

    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("slack is down")
        self.posts.append((channel, alert, thread))
        return MessageRef(channel="C1", ts=f"1.{len(self.posts)}")

    def update(self, ref: MessageRef, alert: Alert) -> None:
        raise AssertionError("a slow-run note never edits a message")

    def find(self, channel: str, key: str, **_: Any) -> MessageRef | None:
        return None  # nothing posted was lost in these tests


class Threads(MemoryThreads):
    """The part of the notification state that threads use."""

    def __init__(self, **threads: MessageRef) -> None:
        super().__init__()
        self.threads = dict(threads)


class CountingHistory(MemoryRunHistory):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def runs(self, job: str, **kwargs: Any) -> list[RunRecord]:
        self.queries += 1
        return super().runs(job, **kwargs)


def jobs(**slow_run: Any) -> JobsConfig:
    spec: dict[str, Any] = {"match": {"family": "nightly-report"}, "slack_channel": "#reports"}
    if slow_run:
        spec["slow_run"] = slow_run
    return parse_config({"jobs": {"nightly-report": spec}}, "test.yaml")


class World:
    def __init__(
        self, config: JobsConfig, *, thread: MessageRef | None = None, root: str | None = None
    ) -> None:
        self.history = CountingHistory()
        self.events = RecordingEvents()
        self.chat = RecordingChat()
        self.guard = MemoryOnceGuard()
        state = Threads(**({root: thread} if thread and root else {}))
        notifier = Notifier(
            guard=self.guard,
            routing=lambda job: Routing(channel="#reports", notify_success=True),
            chat=self.chat,
            state=state,  # type: ignore[arg-type]
        )
        self.recorder = HistoryRecorder(
            history=self.history, jobs=config, guard=self.guard, events=self.events, notifier=notifier
        )

    def usual(self, report: RunReport, seconds: float, count: int = 5) -> None:
        """``count`` earlier successful runs of the report's job, each taking ``seconds``."""
        start = run_record(report).started_at
        for i in range(count):
            self.history.record(replace(run(seconds, day=i + 1), started_at=start - timedelta(days=i + 1)))
        self.history.queries = 0


@pytest.fixture
def success(sample_report: SampleReport) -> RunReport:
    """nightly-report's successful run: 855.697 s of run time."""
    return sample_report("stopped-success")


def run_seconds(report: RunReport) -> float:
    seconds = report.durations.run_time
    assert seconds is not None
    return seconds


def test_a_slow_run_sends_one_datadog_warning_even_when_redelivered(success: RunReport) -> None:
    world = World(jobs())
    world.usual(success, run_seconds(success) / 3)

    first = world.recorder.record_run(success)
    world.recorder.record_run(success)

    assert first.slow is not None
    (event,) = world.events.events
    assert event.alert_type == "warning"
    assert event.title.startswith("nightly-report ran slow: 14m16s, usually 4m45s")
    assert "ecswatch_warning:slow_run" in event.tags
    assert event.aggregation_key == f"ecswatch:nightly-report:{success.event.task.task_id}"


def test_a_run_exactly_at_the_jobs_factor_sends_nothing(success: RunReport) -> None:
    world = World(jobs(factor=2))
    world.usual(success, run_seconds(success) / 2)

    recorded = world.recorder.record_run(success)

    assert recorded.slow is None
    assert world.events.events == []


def test_the_factor_comes_from_the_jobs_config(success: RunReport) -> None:
    world = World(jobs(factor=4))
    world.usual(success, run_seconds(success) / 3)

    assert world.recorder.record_run(success).slow is None


def test_the_run_is_judged_by_the_job_resolved_for_it_not_looked_up_again(success: RunReport) -> None:
    """The coordinator hands over the job it resolved (for a retry, the one its lineage names);
    the record is filed under that job and judged by its slow-run settings."""
    world = World(jobs(factor=4))  # looked up by the report's name, nightly-report would say "not slow"
    resolved = replace(jobs(factor=2).jobs[0], name="nightly-report")
    world.usual(success, run_seconds(success) / 3)

    recorded = world.recorder.record_run(success, job=resolved)

    assert recorded.run.job == "nightly-report"
    assert recorded.slow is not None


def test_four_earlier_runs_send_no_warning_however_slow(success: RunReport) -> None:
    world = World(jobs())
    world.usual(success, 1.0, count=4)

    assert world.recorder.record_run(success).slow is None
    assert world.events.events == []


def test_slack_hears_of_a_slow_run_only_when_the_job_asks(success: RunReport) -> None:
    quiet, asking = World(jobs()), World(jobs(notify_slack=True))
    for world in (quiet, asking):
        world.usual(success, run_seconds(success) / 3)
        world.recorder.record_run(success)

    assert quiet.chat.posts == []
    ((channel, alert, thread),) = asking.chat.posts
    assert (channel, thread) == ("#reports", None)
    assert alert.severity == "warning"
    assert "3.0x the median of the last 5 successful runs (warns above 2x)" in alert.cause


def test_the_slack_note_goes_into_the_runs_thread_when_it_has_one(success: RunReport) -> None:
    ref = MessageRef(channel="C9", ts="1700000000.000100")
    world = World(jobs(notify_slack=True), thread=ref, root=success.event.task.arn)
    world.usual(success, run_seconds(success) / 3)

    world.recorder.record_run(success, Attempt(number=1, of=1, root_task_arn=success.event.task.arn))

    ((channel, _, thread),) = world.chat.posts
    assert (channel, thread) == ("C9", ref)


def test_a_slack_outage_is_retried_without_resending_the_datadog_warning(success: RunReport) -> None:
    world = World(jobs(notify_slack=True))
    world.usual(success, run_seconds(success) / 3)
    world.chat.fail_next = 1

    with pytest.raises(TransientError):
        world.recorder.record_run(success)
    world.recorder.record_run(success)  # SQS redelivers

    assert len(world.events.events) == 1
    assert len(world.chat.posts) == 1


def test_a_started_run_is_recorded_without_reading_the_history(sample_report: SampleReport) -> None:
    world = World(jobs(notify_slack=True))

    world.recorder.record_run(sample_report("running-fargate"))

    assert world.history.queries == 0
    assert world.history.writes == 1


def test_a_failed_run_is_recorded_without_reading_the_history(sample_report: SampleReport) -> None:
    world = World(jobs(notify_slack=True))

    world.recorder.record_run(sample_report("stopped-user"))

    assert world.history.queries == 0


def test_a_successful_stop_reads_the_recent_successes_once(success: RunReport) -> None:
    world = World(jobs())

    world.recorder.record_run(success)

    assert world.history.queries == 1


def test_with_nobody_to_tell_the_check_is_skipped(success: RunReport) -> None:
    history = CountingHistory()
    recorder = HistoryRecorder(history=history, jobs=jobs(notify_slack=False), guard=MemoryOnceGuard())

    recorder.record_run(success)

    assert (history.writes, history.queries) == (1, 0)


def test_a_ready_record_such_as_a_failed_launch_is_stored_as_it_is() -> None:
    history = MemoryRunHistory()
    recorder = HistoryRecorder(history=history, jobs=jobs(), guard=MemoryOnceGuard())
    launch = run(None, outcome="failed_to_launch")

    recorder.record(launch)

    assert history.runs("nightly-report", since=T0 - timedelta(days=1)) == [launch]


# --------------------------------------------------------------------------- the config


def test_a_job_without_slow_run_gets_factor_2_and_no_slack_note() -> None:
    job = jobs().job("nightly-report")

    assert job is not None
    assert job.slow_run == SlowRunConfig(factor=2.0, notify_slack=False)


@pytest.mark.parametrize(
    ("slow_run", "problem"),
    [
        ({"factor": 0.5}, "jobs.nightly-report.slow_run.factor: must be between 1 and 100, not 0.5"),
        ({"factor": "2x"}, "jobs.nightly-report.slow_run.factor: must be a number, not '2x'"),
        (
            {"notify_slack": "yes"},
            "jobs.nightly-report.slow_run.notify_slack: must be true or false, not 'yes'",
        ),
        ({"facter": 3}, "jobs.nightly-report.slow_run.facter: unknown key (did you mean 'factor'?)"),
    ],
)
def test_a_bad_slow_run_setting_is_reported_with_file_job_and_field(slow_run: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        jobs(**slow_run)

    assert raised.value.problems == (f"test.yaml: {problem}",)


def test_the_demo_config_asks_for_slack_notes_of_slow_nightly_reports() -> None:
    from ecswatch.config.loader import load_config
    from local import DEMO_JOBS_CONFIG

    job = load_config(DEMO_JOBS_CONFIG).job("nightly-report")

    assert job is not None
    assert job.slow_run.notify_slack


def test_the_check_reads_one_bounded_page_of_latest_runs_and_picks_the_successes_itself(
    success: RunReport,
) -> None:
    """Filtering on outcome in DynamoDB would apply the limit before the filter and page back through
    every failure of a mostly failing job; the check asks for a fixed number of latest runs instead."""
    world = World(jobs())
    asked: list[dict[str, Any]] = []
    runs = world.history.runs

    def spy(job: str, **kwargs: Any) -> list[RunRecord]:
        asked.append(kwargs)
        return runs(job, **kwargs)

    world.history.runs = spy  # type: ignore[method-assign]

    world.recorder.record_run(success)

    [kwargs] = asked
    assert kwargs.get("outcome") is None
    assert kwargs["limit"] == SLOW_RUN_READ


def test_failures_among_the_latest_runs_leave_the_successes_to_judge_by(success: RunReport) -> None:
    world = World(jobs())
    world.usual(success, run_seconds(success) / 3)
    start = run_record(success).started_at
    for i in range(10):  # the newest runs failed
        world.history.record(
            replace(
                run(5.0, day=1, outcome="failed"),
                run_id=f"{ARN}f{i}",
                started_at=start - timedelta(minutes=i + 1),
            )
        )

    recorded = world.recorder.record_run(success)

    assert recorded.slow is not None
