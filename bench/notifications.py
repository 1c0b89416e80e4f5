"""Calls per event to Slack, Datadog and DynamoDB under a burst of failed tasks.

A bad deploy or an array job can stop hundreds of tasks of a few jobs within a
minute. What matters then is not speed but how many calls reach Slack (rate
limits, a flooded channel), Datadog and the state table. The burst goes through
the real handler in SQS batches of 10, over the offline stack (moto, fake Slack
and Datadog speaking real HTTP), and every call is counted.

Goals: at most one Slack post per job per storm window; one Datadog metrics
submit per SQS batch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import Goal, quiet_moto

BATCH_SIZE = 10


@dataclass(frozen=True)
class Notifications:
    events: int
    jobs: int
    batches: int
    seconds: float
    #: Top-level messages in the channel (what the goal is about: one per job per window).
    slack_posts: int
    #: Replies in threads: a storm's roster (45 runs a reply, past what its message lists).
    slack_replies: int
    slack_updates: int
    datadog_events: int
    datadog_metric_calls: int
    dynamodb_calls: dict[str, int]
    failed_records: int

    @property
    def posts_per_job(self) -> float:
        return self.slack_posts / self.jobs

    @property
    def metric_calls_per_batch(self) -> float:
        return self.datadog_metric_calls / self.batches

    @property
    def dynamodb_per_event(self) -> float:
        return sum(self.dynamodb_calls.values()) / self.events

    @property
    def goals(self) -> list[Goal]:
        return [
            Goal("Slack posts per job per window", self.posts_per_job, 1, "", higher_is_better=False),
            Goal(
                "Datadog metric submits per batch", self.metric_calls_per_batch, 1, "", higher_is_better=False
            ),
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "goals": [g.line() for g in self.goals]}


def burst_events(count: int, jobs: int) -> list[dict[str, Any]]:
    """Failed runs of ``jobs`` jobs, each a distinct task (fresh task and event ids)."""
    from local.aws import load_event

    template = load_event("stopped-nonzero-exit")
    events = []
    for i in range(count):
        event = copy.deepcopy(template)
        detail = event["detail"]
        task_id = f"{i + 1:032x}"
        detail["taskArn"] = detail["taskArn"].rsplit("/", 1)[0] + "/" + task_id
        detail["taskDefinitionArn"] = detail["taskDefinitionArn"].replace(
            "invoice-export:", f"burst-job-{i % jobs}:"
        )
        for container in detail["containers"]:
            container["taskArn"] = detail["taskArn"]
        event["id"] = f"burst-{i}"
        event["resources"] = [detail["taskArn"]]
        events.append(event)
    return events


def measure(burst: int = 1_000, jobs: int = 10) -> Notifications:
    from local.lambda_runtime import LambdaContext, sqs_batch
    from local.stack import offline_stack

    quiet_moto()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    events = burst_events(burst, jobs)
    with offline_stack(seed=False) as stack:
        from ecswatch.handlers import task_events

        task_events.dependencies.cache_clear()
        dynamodb = Counter[str]()
        client = task_events.dependencies().clients.get("dynamodb")
        client.meta.events.register("before-call.dynamodb", lambda model, **_: dynamodb.update([model.name]))
        failed = 0
        started = time.perf_counter()
        batches = [events[i : i + BATCH_SIZE] for i in range(0, len(events), BATCH_SIZE)]
        with contextlib.redirect_stdout(io.StringIO()):
            for batch in batches:
                response = task_events.lambda_handler(sqs_batch(*batch), LambdaContext())
                failed += len(response["batchItemFailures"])
        seconds = time.perf_counter() - started
        result = Notifications(
            events=burst,
            jobs=jobs,
            batches=len(batches),
            seconds=seconds,
            slack_posts=sum(m.thread_ts is None for m in stack.slack.messages()),
            slack_replies=sum(m.thread_ts is not None for m in stack.slack.messages()),
            slack_updates=len(stack.slack.calls("/api/chat.update")),
            datadog_events=len(stack.datadog.events()),
            datadog_metric_calls=len(stack.datadog.calls("/api/v2/series")),
            dynamodb_calls=dict(dynamodb),
            failed_records=failed,
        )
        task_events.dependencies.cache_clear()
    return result


def report(r: Notifications) -> str:
    ddb = ", ".join(f"{n} {op}" for op, n in sorted(r.dynamodb_calls.items()))
    lines = [
        f"Notification burst: {r.events:,} failed tasks of {r.jobs} jobs in {r.batches} SQS batches of "
        f"{BATCH_SIZE}, through lambda_handler over the offline stack ({r.seconds:.1f} s, "
        f"{r.failed_records} failed records)",
        f"  Slack     {r.slack_posts} messages ({r.posts_per_job:.1f} per job), {r.slack_replies} thread "
        f"replies (storm rosters), {r.slack_updates} chat.update (milestones, once per invocation)",
        f"  Datadog   {r.datadog_events} events (one per run), {r.datadog_metric_calls} metric submits "
        f"({r.metric_calls_per_batch:.2f} per batch)",
        f"  DynamoDB  {sum(r.dynamodb_calls.values())} calls = {r.dynamodb_per_event:.2f} per event ({ddb})",
        *(f"  {goal.line()}" for goal in r.goals),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
