"""Offline demo: every sample event through the real TaskEventsFunction handler, as on-call would see it.

AWS is moto in server mode (task definitions, log streams, the state table and
the secrets seeded), Slack and Datadog are local capturing endpoints, and the
real boto3, slack-sdk and datadog-api-client speak HTTP to them. The batch is
then delivered a second time, as SQS may, to show nothing is notified twice.
Run it with `scripts/demo.sh`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from local import DEMO_JOBS_CONFIG  # noqa: E402
from local.aws import EVENTS  # noqa: E402
from local.fake_datadog import render_event, render_series  # noqa: E402
from local.fake_slack import render  # noqa: E402
from local.lambda_runtime import LambdaContext, sqs_batch, sqs_record  # noqa: E402
from local.stack import offline_stack  # noqa: E402

RULE = "=" * 100
Body = dict[str, Any] | str


def sample_events() -> list[tuple[str, Body]]:
    events: list[tuple[str, Body]] = []
    for path in sorted(EVENTS.glob("*.json")):
        data = json.loads(path.read_text())
        if "detail-type" in data:  # skip the SQS envelope (sqs-batch.json)
            events.append((path.stem, data))
    events.append(("(a message whose body is not JSON)", "{this is not json"))
    return events


def main() -> int:
    began = time.monotonic()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")  # the demo prints its own view
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with offline_stack(retries=True) as stack, tempfile.TemporaryDirectory() as scratch:
        from ecswatch.handlers import task_events
        from ecswatch.notifications.render import render_text

        os.environ["JOBS_CONFIG_PATH"] = str(_demo_jobs_config(Path(scratch), _moto_network()))

        print(f"AWS: moto at {stack.aws_endpoint} · Slack: {stack.slack.url} · Datadog: {stack.datadog.url}")
        reports: list[Any] = []
        task_events.dependencies().sinks.append(_Collect(reports))
        named = sample_events()
        batch = sqs_batch(*(body for _, body in named))
        with _skips_recorded(task_events) as skipped:
            response, emf = _invoke(task_events, batch)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        by_id = {r.event.event_id: r for r in reports}

        for (name, body), record in zip(named, batch["Records"], strict=True):
            print(f"\n{RULE}\n{name}\n{RULE}")
            if record["messageId"] in failed:
                print("  -> reported as a batch item failure: SQS redelivers it, then dead-letters it")
                continue
            skip = skipped.get(body.get("id")) if isinstance(body, dict) else None
            if skip is not None:
                print(f"  -> skipped ({skip.kind}): {skip.reason}")
                continue
            if isinstance(body, dict) and body.get("detail-type") == "AWS API Call via CloudTrail":
                _show_launch(stack, body)
                continue
            report = by_id.get(body.get("id")) if isinstance(body, dict) else None
            if report is None:
                print("  -> no report and no skip recorded: nothing to show")
                continue
            print(render_text(report))
            if report.outcome is not None:
                _show_notifications(stack, report)

        _summary(stack, batch, failed, emf, task_events)
        _redeliver(stack, batch, task_events)
        _retry_story(stack, task_events)
        _storm_story(stack, task_events)
        _watchdog_story(stack, task_events)
        _history_story()
        _closing_line(stack, len(batch["Records"]), len(skipped), len(failed), began=began)
    return 0


@contextlib.contextmanager
def _skips_recorded(task_events: Any) -> Iterator[dict[str, Any]]:
    """What the handler returned for each event it skipped (``Skipped(reason, kind)``), by event id.

    The handler logs the reason at INFO, which the demo silences to print its own view; this keeps
    the very value it logged, so the demo says why an event was skipped without deciding it again."""
    from ecswatch.run import Skipped

    skipped: dict[str, Any] = {}
    handle: Callable[[Any], Any] = task_events.handle_event

    def recording(raw: Any) -> Any:
        result = handle(raw)
        if isinstance(result, Skipped) and isinstance(raw, dict):
            skipped[str(raw.get("id"))] = result
        return result

    task_events.handle_event = recording
    try:
        yield skipped
    finally:
        task_events.handle_event = handle


def _closing_line(stack: Any, events: int, skipped: int, failed: int, *, began: float) -> None:
    """One line with what the whole demo did, so the end of the output says it ended, and how."""
    from ecswatch.notifications.render import human_duration

    slack_posts = len(stack.slack.calls("/api/chat.postMessage"))
    slack_updates = len(stack.slack.calls("/api/chat.update"))
    elapsed = human_duration(time.monotonic() - began)
    print(f"\n{RULE}")
    datadog_events = len(stack.datadog.events())
    print(
        f"demo done in {elapsed}: {_count(events, 'sample event')} ({skipped} skipped, "
        f"{_count(failed, 'batch item failure')}); in all {_count(slack_posts, 'Slack post')}, "
        f"{_count(slack_updates, 'Slack update')}, {_count(datadog_events, 'Datadog event')}, "
        f"{_count(_retries_launched(), 'retry', 'retries')} launched"
    )


def _retries_launched() -> int:
    """Tasks in the demo's cluster that the retry launcher started (startedBy ``ecswatch-retry/<n>``)."""
    from ecswatch.events.vocabulary import RETRY_PREFIX

    ecs = boto3.client("ecs")
    launched: set[str] = set()
    for status in ("RUNNING", "STOPPED"):
        arns = ecs.list_tasks(cluster="batch", desiredStatus=status)["taskArns"]
        for task in ecs.describe_tasks(cluster="batch", tasks=arns)["tasks"] if arns else []:
            if task.get("startedBy", "").startswith(f"{RETRY_PREFIX}/"):
                launched.add(task["taskArn"])
    return len(launched)


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def _invoke(task_events: Any, batch: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # EMF lines go to stdout, where CloudWatch reads them
        response = task_events.lambda_handler(batch, LambdaContext())
    return response, [line for line in out.getvalue().splitlines() if '"_aws"' in line]


def _show_notifications(stack: Any, report: Any) -> None:
    task_id = report.event.task.task_id
    shown = False
    for message in stack.slack.messages():
        if task_id in json.dumps(message.blocks):
            shown = True
            edited = f", updated {message.edits}x" if message.edits else ""
            thread = f" (in thread {message.thread_ts})" if message.thread_ts else ""
            print(f"\n  Slack {message.channel} ts={message.ts}{thread}{edited}:")
            print(_indent(render(message)))
    if report.is_failure and not shown:
        print(f"\n  Slack: grouped into the one {report.job} message of this window (see the next failure)")
    for event in stack.datadog.events():
        if task_id in event.get("text", "") or task_id in event.get("aggregation_key", ""):
            print("\n  Datadog event:")
            print(_indent(render_event(event)))


def _show_launch(stack: Any, body: dict[str, Any]) -> None:
    """A RunTask call from CloudTrail: a failed one was alerted as a failed run; a success was ignored."""
    detail = body["detail"]
    event_id = detail["eventID"]
    if not (detail.get("errorCode") or (detail.get("responseElements") or {}).get("failures")):
        print("  -> RunTask succeeded: ignored (the task it started reports itself)")
        return
    posted = [c.json for c in stack.slack.calls("/api/chat.postMessage") if event_id in json.dumps(c.json)]
    for blocks in (p["blocks"] for p in posted if not p.get("thread_ts")):
        print(f"  Slack {posted[0]['channel']} (as first posted; later failures of the job update it):")
        print(_indent(render(blocks)))
    for event in stack.datadog.events():
        if event_id in event.get("text", ""):
            print("\n  Datadog event:")
            print(_indent(render_event(event)))


def _summary(stack: Any, batch: dict[str, Any], failed: set[str], emf: list[str], task_events: Any) -> None:
    deps = task_events.dependencies()
    total = len(batch["Records"])
    print(f"\n{RULE}\nsummary\n{RULE}")
    print(f"  SQS batch response: {len(failed)} of {total} messages failed (redelivered, then dead-lettered)")
    print(
        f"  Slack: {len(stack.slack.calls('/api/chat.postMessage'))} chat.postMessage, "
        f"{len(stack.slack.calls('/api/chat.update'))} chat.update"
    )
    series_calls = len(stack.datadog.calls("/api/v2/series"))
    print(
        f"  Datadog: {len(stack.datadog.events())} events, "
        f"{series_calls} metrics submit call(s) with {len(stack.datadog.series())} series"
    )
    print(f"  CloudWatch EMF: {len(emf)} metric lines on stdout")
    print(
        f"  AWS reads: {deps.task_definitions.calls} DescribeTaskDefinition, {deps.logs.calls} GetLogEvents"
    )
    print("\n  Datadog metric series (first 8):")
    print(_indent(render_series(stack.datadog.series()[:8])))


def _redeliver(stack: Any, batch: dict[str, Any], task_events: Any) -> None:
    posts = len(stack.slack.calls("/api/chat.postMessage"))
    updates = len(stack.slack.calls("/api/chat.update"))
    events = len(stack.datadog.events())
    task_events.dependencies.cache_clear()  # as if a fresh container got the redelivery
    _invoke(task_events, batch)
    print(
        f"\n{RULE}\nthe same {len(batch['Records'])} messages delivered again (SQS is at-least-once)\n{RULE}"
    )
    print(
        f"  new Slack posts: {len(stack.slack.calls('/api/chat.postMessage')) - posts}, "
        f"new updates: {len(stack.slack.calls('/api/chat.update')) - updates}, "
        f"new Datadog events: {len(stack.datadog.events()) - events}"
    )


# ------------------------------------------------------------------ a failed job retried


def _moto_network() -> dict[str, Any]:
    """A VPC in moto for the retry to run in (moto's RunTask checks that subnets exist), and the
    cluster the sample events name."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.43.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch jobs", VpcId=vpc)["GroupId"]
    boto3.client("ecs").create_cluster(clusterName="batch")
    return {"subnets": [subnet], "security_groups": [group], "assign_public_ip": False}


def _demo_jobs_config(scratch: Path, network: dict[str, Any]) -> Path:
    """The demo's jobs (local/demo-jobs.yaml) with two changes so the demo need not wait or own a VPC:
    invoice-export retries after at most 1 s (instead of up to 2 min) in moto's subnet."""
    config = yaml.safe_load(DEMO_JOBS_CONFIG.read_text())
    job = config["jobs"]["invoice-export"]
    job["retry"]["backoff"] = {"base_seconds": 1, "max_seconds": 1}
    job["network"] = network
    path = scratch / "jobs.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _retry_story(stack: Any, task_events: Any) -> None:
    """invoice-export exited 2, which its retry policy retries: the request waits on the retry queue,
    the retry launcher starts attempt 2 with RunTask (moto), attempt 2 succeeds, and the first
    alert's thread tells the whole story."""
    from ecswatch.adapters.aws.ecs_runner import task_event_from_description
    from ecswatch.handlers import retry_launcher

    print(f"\n{RULE}\na failed job retried: invoice-export exited 2, its policy says RETRY\n{RULE}")
    sqs, ecs = boto3.client("sqs"), boto3.client("ecs")
    messages = sqs.receive_message(
        QueueUrl=stack.retry_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=3
    ).get("Messages", [])
    for message in messages:
        request = json.loads(message["Body"])
        print(
            f"  retry queue: {request['job']} attempt {request['attempt']}/{request['of']} of "
            f"{request['root_task_arn'].rsplit('/', 1)[-1]} ({request['reason']})"
        )
    records = [sqs_record(m["Body"], message_id=m["MessageId"]) for m in messages]
    with contextlib.redirect_stdout(io.StringIO()):
        retry_launcher.lambda_handler({"Records": records}, LambdaContext(function_name="RetryLauncher"))
    launched = ecs.list_tasks(cluster="batch", startedBy="ecswatch-retry/2")["taskArns"]
    if not launched:
        print("  (no retry was launched)")
        return
    task = ecs.describe_tasks(cluster="batch", tasks=launched, include=["TAGS"])["tasks"][0]
    print(f"  RunTask started {task['taskArn']} with startedBy {task['startedBy']}")
    print("  ... attempt 2 runs and exits 0; its STOPPED event arrives:")
    _invoke(task_events, sqs_batch(task_event_from_description(_finished(task), "eu-west-1", "123456789012")))
    roots = {json.loads(m["Body"])["root_task_arn"] for m in messages}
    _show_thread(stack, "invoice-export", next(iter(roots), None))


def _storm_story(stack: Any, task_events: Any) -> None:
    """Two more invoice-export runs that stopped in the retried run's window (40 s and 90 s after
    it) arrive late, after the next day's timed-out run opened a window of its own: they join their
    own window's message. One exited 9 (not retried), one exited 2 (retry scheduled), so the one
    message shows each run's state, and its title the worst of them, in the runs' own times."""
    print(f"\n{RULE}\na storm: more invoice-export failures in the same window, each with its state\n{RULE}")
    sample = json.loads((EVENTS / "stopped-nonzero-exit.json").read_text())
    first = sample["detail"]["taskArn"].rsplit("/", 1)[-1]
    late = [
        _late_failure(sample, "5e2d1c0b9a8f7e6d5c4b3a2918070605", seconds=40, exit_code=9),
        _late_failure(sample, "6f3e2d1c0b9a8f7e6d5c4b3a29180706", seconds=90, exit_code=2),
    ]
    for event in late:
        print(f"  {event['detail']['taskArn'].rsplit('/', 1)[-1]} stopped {event['detail']['stoppedAt']}")
    _invoke(task_events, sqs_batch(*late))
    for message in stack.slack.messages():
        if not message.thread_ts and first in render(message):
            edited = f", updated {message.edits}x" if message.edits else ""
            print(
                f"\n  Slack {message.channel} ts={message.ts}{edited} (the grouped message, as it reads now):"
            )
            print(_indent(render(message)))


def _late_failure(sample: dict[str, Any], task_id: str, *, seconds: int, exit_code: int) -> dict[str, Any]:
    old_id = sample["detail"]["taskArn"].rsplit("/", 1)[-1]
    text = json.dumps(sample).replace(old_id, task_id).replace('"exitCode": 2', f'"exitCode": {exit_code}')
    event: dict[str, Any] = json.loads(text)
    event["id"] = f"{task_id[:8]}-demo-late-failure"
    for key in ("stoppingAt", "stoppedAt", "executionStoppedAt", "updatedAt"):
        at = datetime.fromisoformat(event["detail"][key].replace("Z", "+00:00")) + timedelta(seconds=seconds)
        event["detail"][key] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


#: When the retried attempt is created: a minute after the sample failure it retries stopped
#: (2025-03-04 05:41:44), so the history the CLI shows at the end reads in the samples' time.
RETRY_CREATED = datetime(2025, 3, 4, 5, 42, 45, tzinfo=UTC)


def _finished(task: dict[str, Any]) -> dict[str, Any]:
    """The task as DescribeTasks shows it after its essential container exited 0, ten minutes on.

    moto stamps the task with today's clock; the demo moves it next to the run it retries."""
    started = RETRY_CREATED + timedelta(seconds=38)
    done = dict(task, lastStatus="STOPPED", desiredStatus="STOPPED", stopCode="EssentialContainerExited")
    done.update(
        stoppedReason="Essential container in task exited",
        createdAt=RETRY_CREATED,
        pullStartedAt=RETRY_CREATED + timedelta(seconds=15),
        pullStoppedAt=RETRY_CREATED + timedelta(seconds=33),
        startedAt=started,
        executionStoppedAt=started + timedelta(minutes=10),
        stoppedAt=started + timedelta(minutes=10, seconds=20),
    )
    done["containers"] = [dict(c, lastStatus="STOPPED", exitCode=0) for c in task["containers"]]
    return done


def _show_thread(stack: Any, job: str, run_key: str | None = None) -> None:
    """The last message about ``job`` (the message of its run ``run_key`` when given) and its thread."""
    from ecswatch.adapters.dynamodb.state import DynamoNotificationState
    from local.stack import STATE_TABLE

    messages = stack.slack.messages()
    ref = (
        DynamoNotificationState(boto3.client("dynamodb"), STATE_TABLE).thread_for(run_key)
        if run_key
        else None
    )
    parents = [
        m for m in messages if not m.thread_ts and (m.ts == ref.ts if ref else job in json.dumps(m.blocks))
    ]
    for parent in parents[-1:]:
        edited = f", updated {parent.edits}x" if parent.edits else ""
        print(f"\n  Slack {parent.channel} ts={parent.ts}{edited} (the first alert, as it reads now):")
        print(_indent(render(parent)))
        for reply in (m for m in messages if m.thread_ts == parent.ts):
            print(f"\n    reply in its thread ts={reply.ts}:")
            print(_indent(render(reply), "      "))


# --------------------------------------------------------------------------- watchdog


def _night_after_the_samples() -> datetime:
    """Midnight after the newest sample event, so the watchdog's night and the CLI's clock come after
    every run the samples recorded, and the whole demo reads in one timeline."""
    times = [datetime.fromisoformat(body["time"]) for _, body in sample_events() if isinstance(body, dict)]
    newest = max(times).astimezone(UTC)
    return datetime(newest.year, newest.month, newest.day, tzinfo=UTC) + timedelta(days=1)


#: The watchdog's passes run on this clock (its decisions take ``now``; the live-task reader and
#: the stop it makes are put on it too): the night after the samples.
WATCHDOG_NIGHT = _night_after_the_samples()


def _watchdog_story(stack: Any, task_events: Any) -> None:
    """The watchdog's passes over one night: invoice-export runs past its 2h limit and is stopped
    (stop_on_overrun), and nightly-report does not start at 02:00, then runs at 02:31."""
    from moto.ecs.models import ecs_backends
    from moto.moto_api import state_manager

    from ecswatch.adapters.dynamodb.watchdog_state import DynamoWatchdogState
    from ecswatch.handlers import watchdog
    from local.aws import load_event

    night = WATCHDOG_NIGHT
    saved = {name: os.environ.get(name) for name in ("JOBS_CONFIG_PATH", "WATCH_CLUSTERS")}
    # moto moves a task on one status per DescribeTasks; ECS does not.
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    try:
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["JOBS_CONFIG_PATH"] = str(_watchdog_jobs_config(Path(scratch)))
            os.environ["WATCH_CLUSTERS"] = "batch"
            watchdog.watchdog.cache_clear()
            watchdog.watchdog().register_lambda_context(LambdaContext())
            _on_the_passes_clock(watchdog.watchdog())
            network = _moto_network_for_watchdog()
            ecs = boto3.client("ecs")

            def run_task(family: str, created: datetime, started: datetime | None) -> str:
                arn = str(
                    ecs.run_task(
                        cluster="batch",
                        taskDefinition=family,
                        launchType="FARGATE",
                        startedBy=f"events-rule/{family}-daily",
                        networkConfiguration={"awsvpcConfiguration": network},
                    )["tasks"][0]["taskArn"]
                )
                tasks = ecs_backends["123456789012"][boto3.session.Session().region_name]
                task = next(t for t in tasks.tasks["batch"].values() if t.task_arn == arn)
                task.created_at, task.started_at = created, started
                return arn

            # The watchdog has watched nightly-report since before tonight's 02:00 run was due.
            DynamoWatchdogState(boto3.client("dynamodb"), os.environ["STATE_TABLE_NAME"]).start_watching(
                "nightly-report", night
            )
            export = run_task("invoice-export", night, night + timedelta(seconds=40))

            print(f"\n{RULE}\nthe watchdog (every 5 minutes), {_at(2, 13):%Y-%m-%d %H:%M} UTC\n{RULE}")
            mark = _watchdog_pass(stack, watchdog, _at(2, 13), len(stack.slack.messages()))
            stopped = _stopped_by(ecs.describe_tasks(cluster="batch", tasks=[export])["tasks"][0], _at(2, 13))
            print(f"\n  invoice-export task: {stopped['lastStatus']}, {stopped['stoppedReason']!r}")
            _watchdog_stop_report(stopped, task_events)
            _status_between_passes(_at(2, 20))

            # nightly-report starts late; the task-events function records the start in the run history.
            text = json.dumps(load_event("running-fargate")).replace(
                "2025-03-04T02:00", f"{night:%Y-%m-%d}T02:31"
            )
            late = json.loads(text.replace("c50ead5370796d06e8a8c6c917151c46", "0" * 31 + "1"))
            with contextlib.redirect_stdout(io.StringIO()):  # its EMF lines
                task_events.handle_event(late)
            print(f"\n{RULE}\n02:35 UTC: nightly-report started late, at 02:31\n{RULE}")
            mark = _watchdog_pass(stack, watchdog, _at(2, 35), mark)

            print(f"\n{RULE}\n02:40 UTC: the next pass\n{RULE}")
            _watchdog_pass(stack, watchdog, _at(2, 40), mark)
    finally:
        state_manager.unset_transition("ecs::task")
        watchdog.watchdog.cache_clear()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _at(hour: int, minute: int) -> datetime:
    return WATCHDOG_NIGHT + timedelta(hours=hour, minutes=minute)


#: The time of the pass in progress: what the live-task reader stamps on the tasks it reads.
_PASS_CLOCK = [WATCHDOG_NIGHT]


def _on_the_passes_clock(built: Any) -> None:
    """The watchdog decides on the ``now`` it is given, but reads the live tasks with its reader's
    own clock (the tasks' event time, the end of their Logs Insights window): both follow the pass."""
    live = built._live
    if not hasattr(live, "_clock"):
        raise RuntimeError("the watchdog's live-task reader has no clock to set; update the demo")
    live._clock = lambda: _PASS_CLOCK[0]


def _stopped_by(task: dict[str, Any], stop_called: datetime) -> dict[str, Any]:
    """The task as ECS describes it after the watchdog's StopTask at ``stop_called``: SIGTERM, and
    SIGKILL (exit 137) when the container has not exited after the 30 s stop timeout.

    moto stamps the stop with today's clock and exit code 0; the demo puts it on the night's clock."""
    done = dict(
        task,
        stoppingAt=stop_called,
        executionStoppedAt=stop_called + timedelta(seconds=30),
        stoppedAt=stop_called + timedelta(seconds=41),
    )
    done["containers"] = [dict(c, lastStatus="STOPPED", exitCode=137) for c in task["containers"]]
    return done


def _watchdog_pass(stack: Any, watchdog: Any, now: datetime, mark: int) -> int:
    """One pass at ``now``; prints what Slack and Datadog got from it. Returns the new message mark."""
    datadog_before = len(stack.datadog.events())
    _PASS_CLOCK[0] = now
    result = watchdog.run(now)
    summary = result.summary()
    print("  pass: " + ", ".join(f"{key} {value}" for key, value in summary.items() if value))
    messages = stack.slack.messages()
    new = messages[mark:]
    if not new:
        print("  nothing new: every finding was already alerted")
    for message in new:
        thread = f" (reply in thread {message.thread_ts})" if message.thread_ts else ""
        print(f"\n  Slack {message.channel} ts={message.ts}{thread}:")
        print(_indent(render(message)))
        parent = next((m for m in messages if message.thread_ts and m.ts == message.thread_ts), None)
        if parent is not None and parent.edits:
            print(f"\n  ...and the alert it answers now reads (updated {parent.edits}x):")
            print(_indent(render(parent)))
    for event in stack.datadog.events()[datadog_before:]:
        print("\n  Datadog event:")
        print(_indent(render_event(event)))
    return len(messages)


def _status_between_passes(now: datetime) -> None:
    """`ecswatch status` while the missed-run alert is open: its ALERTS column is what the watchdog
    keeps in the state table, so it shows that alert now and nothing once the recovery closes it."""
    from ecswatch.cli.main import main as ecswatch

    argv = ["status", "nightly-report", "invoice-export", "--since", "2025-03-01"]
    common = ["--table", os.environ["STATE_TABLE_NAME"], "--config", os.environ["JOBS_CONFIG_PATH"]]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ecswatch([*argv, *common], now=now)
    print(f"\n  {now:%H:%M} UTC, $ ecswatch {' '.join(argv)}")
    print(_indent(out.getvalue() + (f"(exit status {code})" if code else "")))


def _watchdog_stop_report(stopped: dict[str, Any], task_events: Any) -> None:
    """The stop the watchdog caused arrives as an ECS Task State Change like any other."""
    from ecswatch.adapters.aws.ecs_runner import task_event_from_description
    from ecswatch.notifications.render import render_text

    arn = stopped["taskArn"]
    region, account = arn.split(":")[3], arn.split(":")[4]
    event = task_event_from_description(stopped, region, account, now=stopped["stoppedAt"])
    with contextlib.redirect_stdout(io.StringIO()):  # its EMF lines
        report = task_events.handle_event(event)
    print("\n  ...and its STOPPED event, through the task-events function:")
    print(_indent(render_text(report)))


def _watchdog_jobs_config(scratch: Path) -> Path:
    """The demo's nightly-report and invoice-export jobs; invoice-export says stop_on_overrun."""
    demo = yaml.safe_load(DEMO_JOBS_CONFIG.read_text())
    jobs = {name: demo["jobs"][name] for name in ("nightly-report", "invoice-export")}
    jobs["invoice-export"]["stop_on_overrun"] = True
    path = scratch / "watchdog-jobs.yaml"
    path.write_text(yaml.safe_dump({"defaults": demo["defaults"], "jobs": jobs}, sort_keys=False))
    return path


def _moto_network_for_watchdog() -> dict[str, Any]:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's RunTask needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="watchdog-demo", Description="demo", VpcId=vpc)["GroupId"]
    boto3.client("ecs").create_cluster(clusterName="batch")
    return {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class _Collect:
    def __init__(self, into: list[Any]) -> None:
        self._into = into

    def publish(self, report: Any) -> None:
        self._into.append(report)


# --------------------------------------------------------------------------- run history and the CLI

#: The CLI's clock in the demo: five minutes after the watchdog's last pass, when the newest run
#: recorded above (nightly-report, started late at 02:31) is still running.
HISTORY_NOW = WATCHDOG_NIGHT + timedelta(hours=2, minutes=45)
#: The invoice-export run that exited 2 (events/stopped-nonzero-exit.json).
FAILED_TASK = "f77fae8dc62fd89bd256b1c897d44a25"


def _history_story() -> None:
    """`ecswatch status`, `ecswatch runs` and `ecswatch logs` over the history the task-events function
    recorded while the demo ran: the same CLI, moto serving DynamoDB and CloudWatch Logs."""
    from ecswatch.cli.main import main as ecswatch

    common = ["--table", os.environ["STATE_TABLE_NAME"]]
    if os.environ.get("JOBS_CONFIG_PATH"):
        common += ["--config", os.environ["JOBS_CONFIG_PATH"]]
    commands = [
        ["status", "--since", "2025-03-01"],
        ["runs", "invoice-export", "--since", "2025-03-01"],
        ["runs", "nightly-report", "--since", "2025-03-01"],
        ["logs", FAILED_TASK, "--tail", "12"],
    ]
    as_of = f"{HISTORY_NOW:%Y-%m-%d %H:%M} UTC"
    print(f"\n{RULE}\nthe run history through the ecswatch CLI, as of {as_of}\n{RULE}")
    for argv in commands:
        print(f"\n$ ecswatch {' '.join(argv)}")
        sys.stdout.flush()
        code = ecswatch([*argv, *common], now=HISTORY_NOW)
        if code:
            print(f"  (exit status {code})")


if __name__ == "__main__":
    raise SystemExit(main())
