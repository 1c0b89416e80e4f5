"""Offline demo: every sample event through the real TaskEventsFunction handler.

AWS is moto in server mode (task definitions and log streams seeded from
events/seed/), so boto3 speaks real HTTP. For each event it prints what on-call
would get, then the SQS batch response (which messages would be redelivered).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from local.aws import EVENTS, moto_server, seed_all  # noqa: E402
from local.lambda_runtime import LambdaContext, sqs_batch  # noqa: E402

RULE = "=" * 100


def sample_events() -> list[tuple[str, dict[str, object] | str]]:
    events: list[tuple[str, dict[str, object] | str]] = []
    for path in sorted(EVENTS.glob("*.json")):
        data = json.loads(path.read_text())
        if "detail-type" not in data:  # an SQS envelope (sqs-batch.json), not an EventBridge event
            continue
        events.append((path.stem, data))
    events.append(("(a message whose body is not JSON)", "{this is not json"))
    return events


def main() -> int:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ecswatch")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ecswatch")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")  # the demo prints its own view
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    with moto_server() as endpoint:
        print(f"moto serving AWS at {endpoint}; seeding task definitions and log streams from events/seed/")
        seed_all()

        from common.render import render_text
        from handlers import task_events

        reports = []
        task_events.dependencies().sinks.append(_Collect(reports))
        names_and_events = sample_events()
        batch = sqs_batch(*(event for _, event in names_and_events))
        emf = io.StringIO()
        with contextlib.redirect_stdout(emf):  # EMF lines go to stdout, where CloudWatch reads them
            response = task_events.lambda_handler(batch, LambdaContext())

        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        by_key = {r.event.event_id: r for r in reports}
        for (name, event), record in zip(names_and_events, batch["Records"], strict=True):
            print(f"\n{RULE}\n{name}\n{RULE}")
            if record["messageId"] in failed:
                print("  -> reported as a batch item failure: SQS redelivers it, then dead-letters it")
                continue
            report = by_key.get(event.get("id")) if isinstance(event, dict) else None
            print(render_text(report) if report else "  -> skipped (see log line): nothing to alert")

        total = len(batch["Records"])
        print(f"\n{RULE}\nbatch response: {len(failed)} of {total} messages failed -> {response}")
        print(
            f"AWS calls: {task_events.dependencies().task_definitions.calls} DescribeTaskDefinition, "
            f"{task_events.dependencies().logs.calls} GetLogEvents for {len(batch['Records'])} messages"
        )
    return 0


class _Collect:
    def __init__(self, into: list[object]) -> None:
        self._into = into

    def publish(self, report: object) -> None:
        self._into.append(report)


if __name__ == "__main__":
    raise SystemExit(main())
