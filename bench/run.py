"""Every benchmark, then one summary table; results in bench/results/latest.json.

Goals are reported PASS or MISS and never fail the process: a miss is a finding
to act on, not a broken build. A non-zero exit means the benchmark itself could
not measure (a child process failed).

Usage: ``scripts/bench.sh [--rounds 15] [--seconds 2] [--events N] [--burst 1000] [--only cold_start]
[--workers 3]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import cold_start, fault_matrix, history, notifications, throughput
from bench.common import BenchError, Goal, write_results

SUITES = ("cold_start", "throughput", "notifications", "history", "fault_matrix")


def _row(metric: str, value: str, baseline: str = "", ratio: str = "", goal: Goal | None = None) -> list[str]:
    return [metric, value, baseline, ratio, goal.wanted if goal else "", goal.verdict if goal else ""]


def _cold_rows(result: cold_start.ColdStart) -> list[list[str]]:
    kinds = result.kinds
    base = f"{kinds['baseline'].wall.median * 1000:.0f} ms"
    return [
        _row(
            "cold start: handler + 1 event (median)",
            f"{kinds['subject'].wall.median * 1000:.0f} ms",
            base,
            f"{result.ratio:.2f}x",
            result.goal,
        ),
        _row(
            "cold start: p90",
            f"{kinds['subject'].wall.p90 * 1000:.0f} ms",
            f"{kinds['baseline'].wall.p90 * 1000:.0f} ms",
            f"{kinds['subject'].wall.p90 / kinds['baseline'].wall.p90:.2f}x",
        ),
        _row(
            "cold start: CPU time of the child (median)",
            f"{kinds['subject'].cpu * 1000:.0f} ms",
            f"{kinds['baseline'].cpu * 1000:.0f} ms",
            f"{kinds['subject'].cpu_ratio_to_baseline:.2f}x",
        ),
        _row(
            "cold start + alert path (Slack, Datadog)",
            f"{kinds['alerts'].wall.median * 1000:.0f} ms",
            base,
            f"{result.alerts_ratio:.2f}x",
        ),
        _row(
            "import ecswatch.handlers.task_events alone",
            f"{kinds['import_only'].wall.median * 1000:.0f} ms",
            base,
            f"{kinds['import_only'].ratio_to_baseline:.2f}x",
        ),
    ]


def _throughput_rows(result: throughput.Throughput) -> list[list[str]]:
    p, h = result.pure, result.handler
    return [
        _row(
            "warm analysis (pure path, 1 core)",
            f"{p.analysis.per_second:,.0f} ev/s",
            f"{p.parse_only.per_second:,.0f} ev/s parse",
            f"{p.cost_ratio:.1f}x cost",
            result.goal,
        ),
        _row("handler warm, wall (moto-bound)", f"{h.warm_wall.per_second:,.0f} ev/s"),
        _row("handler warm, per CPU-second", f"{h.warm_cpu.per_second:,.0f} ev/s"),
        _row("AWS calls per event (handler burst)", f"{h.calls_per_event:.2f}"),
        [
            f"DescribeTaskDefinition for {h.events:,} events",
            f"{h.describe_task_definition} calls",
            f"{h.task_definitions} task defs",
            "",
            f"<= {h.task_definitions}",
            "PASS" if h.cache_holds else "MISS",
        ],
    ]


def _notification_rows(result: notifications.Notifications) -> list[list[str]]:
    posts, submits = result.goals
    return [
        _row(
            f"Slack posts, {result.events:,} failures of {result.jobs} jobs",
            f"{result.slack_posts}",
            "",
            f"{result.posts_per_job:.1f}/job",
            posts,
        ),
        _row("Slack thread replies (storm rosters, 45 runs each)", f"{result.slack_replies}"),
        _row("Slack updates (milestones, once per invocation)", f"{result.slack_updates}"),
        _row("Datadog metric submits per SQS batch", f"{result.metric_calls_per_batch:.2f}", "", "", submits),
        _row("DynamoDB calls per event (dedupe, storms, threads)", f"{result.dynamodb_per_event:.2f}"),
    ]


def _history_rows(result: history.HistoryCost) -> list[list[str]]:
    return [
        _row(
            "history: extra AWS calls per event",
            f"{result.extra_calls_per_event:.2f}",
            f"{result.without.calls_per_event:.2f} without",
        ),
        _row("history: writes per event", f"{result.writes_per_event:.2f}", "", "", result.goal),
        _row(
            "history: reads per successful stop (slow-run check)", f"{result.reads_per_successful_stop:.2f}"
        ),
    ]


def _fault_rows(result: fault_matrix.FaultMatrix) -> list[list[str]]:
    cells = f"{len(result.cells)} cells"
    return [
        _row("fault matrix: alerts lost", str(result.total("lost")), cells),
        _row(
            "fault matrix: duplicate Slack posts (documented)",
            f"{result.total('duplicate_posts')} ({result.total('documented_posts')})",
        ),
        _row(
            "fault matrix: duplicate Datadog events (documented)",
            f"{result.total('duplicate_events')} ({result.total('documented_events')})",
        ),
        _row("fault matrix: leaks", str(result.total("leaks"))),
        _row(
            "fault matrix: lost + leaks + undocumented duplicates",
            str(result.misses),
            "",
            "",
            result.goal,
        ),
    ]


def table(rows: Sequence[Sequence[str]]) -> str:
    header = ["metric", "value", "baseline", "ratio", "goal", ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="cold-start rounds per kind (default 15)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per pure-path measurement")
    parser.add_argument("--events", type=int, help="fixed events per pure-path measurement instead")
    parser.add_argument("--burst", type=int, default=1_000, help="events through the handler (default 1000)")
    parser.add_argument("--definitions", type=int, default=10, help="task definitions in the burst")
    parser.add_argument(
        "--lambda-like",
        action="store_true",
        help=f"cold start without {', '.join(cold_start.NOT_IN_LAMBDA)}, as the Lambda Python runtime",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=fault_matrix.WORKERS,
        help=f"processes for the fault matrix (default {fault_matrix.WORKERS})",
    )
    parser.add_argument("--only", choices=SUITES, action="append", help="run only this suite (repeatable)")
    args = parser.parse_args(argv)
    suites = args.only or list(SUITES)

    sections: dict[str, object] = {}
    rows: list[list[str]] = []
    try:
        if "cold_start" in suites:
            cold = cold_start.measure(rounds=args.rounds, lambda_like=args.lambda_like)
            print(cold_start.report(cold), end="\n\n", flush=True)
            sections["cold_start"] = cold.to_json()
            rows += _cold_rows(cold)
        if "throughput" in suites:
            tp = throughput.measure(args.seconds, args.events, args.burst, args.definitions)
            print(throughput.report(tp), end="\n\n", flush=True)
            sections["throughput"] = tp.to_json()
            rows += _throughput_rows(tp)
        if "notifications" in suites:
            burst = notifications.measure(args.burst, args.definitions)
            print(notifications.report(burst), end="\n\n", flush=True)
            sections["notifications"] = burst.to_json()
            rows += _notification_rows(burst)
        if "history" in suites:
            cost = history.measure(max(20, args.burst // 5), args.definitions)
            print(history.report(cost), end="\n\n", flush=True)
            sections["history"] = cost.to_json()
            rows += _history_rows(cost)
        if "fault_matrix" in suites:
            matrix = fault_matrix.measure(workers=args.workers)
            print(fault_matrix.report(matrix), end="\n\n", flush=True)
            sections["fault_matrix"] = matrix.to_json()
            rows += _fault_rows(matrix)
    except BenchError as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 2
    print("Summary (ratios are against the baseline measured in this run)")
    print(table(rows))
    print(f"\nresults: {write_results(sections)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
