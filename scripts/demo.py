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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from local.aws import EVENTS  # noqa: E402
from local.fake_datadog import render_event, render_series  # noqa: E402
from local.fake_slack import render  # noqa: E402
from local.lambda_runtime import LambdaContext, sqs_batch  # noqa: E402
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
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")  # the demo prints its own view
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with offline_stack() as stack:
        from common.render import render_text
        from handlers import task_events

        print(f"AWS: moto at {stack.aws_endpoint} · Slack: {stack.slack.url} · Datadog: {stack.datadog.url}")
        reports: list[Any] = []
        task_events.dependencies().sinks.append(_Collect(reports))
        named = sample_events()
        batch = sqs_batch(*(body for _, body in named))
        response, emf = _invoke(task_events, batch)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        by_id = {r.event.event_id: r for r in reports}

        for (name, body), record in zip(named, batch["Records"], strict=True):
            print(f"\n{RULE}\n{name}\n{RULE}")
            if record["messageId"] in failed:
                print("  -> reported as a batch item failure: SQS redelivers it, then dead-letters it")
                continue
            report = by_id.get(body.get("id")) if isinstance(body, dict) else None
            if report is None:
                print("  -> skipped (logged): nothing to alert")
                continue
            print(render_text(report))
            if report.outcome is not None:
                _show_notifications(stack, report)

        _summary(stack, batch, failed, emf, task_events)
        _redeliver(stack, batch, task_events)
    return 0


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


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class _Collect:
    def __init__(self, into: list[Any]) -> None:
        self._into = into

    def publish(self, report: Any) -> None:
        self._into.append(report)


if __name__ == "__main__":
    raise SystemExit(main())
