"""Warm throughput: events per second on one core, for the pure analysis and for the whole handler.

Pure path: ``ecswatch.analysis.pipeline.process_task_event`` (json.loads included) over every
``events/stopped-*.json``, cycled, with in-memory collaborators that answer the way
the warm adapters do (task definitions parsed once per ARN from ``events/seed``,
log lines from ``events/seed/log-events.json``). Its same-run baseline is
json.loads + ``parse_task_event`` alone, so the ratio says what analysis costs
on top of reading the event. Both are single-threaded: one core.

Handler path: a burst of SQS batches of 10 through the real ``lambda_handler`` in a
fresh child process, AWS served over HTTP by moto in this (parent) process, so
moto's work lands on another core. It reports wall events/s (bounded by moto's
latency, not ours), events per CPU-second of the handler process (our cost), and
AWS calls per event from the adapters' ``.calls`` counters: a burst over 10 task
definitions must cost about 10 DescribeTaskDefinition calls (cached per revision).

Run alone with ``python -m bench.throughput``; ``scripts/bench.sh`` runs everything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.common import BenchError, Goal, child_env, quiet_moto, write_results
from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.settings import Settings
from ecswatch.events.task import parse_task_event
from ecswatch.events.taskdef import TaskDefinition, parse_task_definition
from ecswatch.run import LogTail, RunReport, Skipped

EVENTS = ROOT / "events"
SEED = EVENTS / "seed"
GOAL_EVENTS_PER_SECOND = 2_000.0
BATCH_SIZE = 10

#: {region: {group: {stream: [lines]}}}, the shape of events/seed/log-events.json.
LogSeed = dict[str, dict[str, dict[str, list[str]]]]


# --------------------------------------------------------------------------- in-memory collaborators


class SeededTaskDefinitions:
    """What ``EcsTaskDefinitions`` is once warm: a dict hit, the definition parsed once per ARN.

    Deleted definitions (not in the seed) are None, as the adapter caches them.
    """

    def __init__(self, seed: Sequence[Mapping[str, Any]]) -> None:
        self._specs = {f"{spec['family']}:{spec['revision']}": spec for spec in seed}
        self._parsed: dict[str, TaskDefinition | None] = {}
        self.requested: list[str] = []

    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        self.requested.append(task_definition_arn)
        if task_definition_arn not in self._parsed:
            spec = self._specs.get(task_definition_arn.rsplit("/", 1)[-1])
            raw = {**spec, "taskDefinitionArn": task_definition_arn} if spec else None
            self._parsed[task_definition_arn] = parse_task_definition(raw) if raw else None
        return self._parsed[task_definition_arn]


class SeededLogs:
    """Canned lines: the seeded stream's, or the note CloudWatch's "not found" becomes."""

    def __init__(self, seed: LogSeed) -> None:
        self._seed = seed

    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        found = self._seed.get(region, {}).get(group, {}).get(stream)
        if found is None:
            return LogTail(note=f"log stream {group} / {stream} not found (expired, or never written)")
        return LogTail(lines=tuple(found[-lines:]))


def task_definition_seed() -> list[dict[str, Any]]:
    seed: list[dict[str, Any]] = json.loads((SEED / "task-definitions.json").read_text())
    return seed


def log_seed() -> LogSeed:
    seed: LogSeed = json.loads((SEED / "log-events.json").read_text())
    return seed


def stopped_events() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(EVENTS.glob("stopped-*.json"))}


# --------------------------------------------------------------------------- pure path


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Sliced:
    """One measurement cut into short slices; the median slice rate shrugs off a moment of outside load."""

    slices: tuple[Rate, ...]

    @property
    def events(self) -> int:
        return sum(r.events for r in self.slices)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.slices)

    @property
    def per_second(self) -> float:
        return statistics.median(r.per_second for r in self.slices)

    @property
    def best_per_second(self) -> float:
        """The fastest slice: closest to what the code does on an otherwise idle core."""
        return max(r.per_second for r in self.slices)


@dataclass(frozen=True)
class PurePath:
    sample_events: int
    outcomes: dict[str, int]
    analysis: Sliced
    parse_only: Sliced

    @property
    def cost_ratio(self) -> float:
        """Per-event time of analysis / per-event time of parse alone (so > 1)."""
        return self.parse_only.per_second / self.analysis.per_second

    @property
    def goal(self) -> Goal:
        return Goal(
            "warm analysis throughput", self.analysis.per_second, GOAL_EVENTS_PER_SECOND, " events/s", True
        )


def measure_pure(seconds: float = 2.0, events: int | None = None, slices: int = 10) -> PurePath:
    """Alternate baseline and subject, ``slices`` short slices each, so drift hits both alike."""
    samples = stopped_events()
    bodies = [json.dumps(event, separators=(",", ":")) for event in samples.values()]
    settings = Settings()
    task_definitions = SeededTaskDefinitions(task_definition_seed())
    logs = SeededLogs(log_seed())

    def analyse(body: str) -> object:
        return process_task_event(
            json.loads(body), settings=settings, task_definitions=task_definitions, logs=logs
        )

    def parse(body: str) -> object:
        return parse_task_event(json.loads(body))

    outcomes = _outcomes([analyse(body) for body in bodies])  # also warms every code path once
    parse_rates: list[Rate] = []
    analysis_rates: list[Rate] = []
    for _ in range(slices):
        parse_rates.append(_run(parse, bodies, seconds / slices, events and events // slices))
        analysis_rates.append(_run(analyse, bodies, seconds / slices, events and events // slices))
    return PurePath(len(bodies), outcomes, Sliced(tuple(analysis_rates)), Sliced(tuple(parse_rates)))


def _outcomes(results: Sequence[object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        if isinstance(result, RunReport):
            key = result.outcome.value if result.outcome else result.phase.value
        elif isinstance(result, Skipped):
            key = f"skipped ({result.kind})"
        else:
            raise BenchError(f"process_task_event returned {result!r}")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _run(step: Callable[[str], object], bodies: Sequence[str], seconds: float, events: int | None) -> Rate:
    """Exactly ``events`` events when given, else whole passes over the samples until ``seconds`` pass."""
    start = time.perf_counter()
    done = 0
    if events:
        for body in islice(cycle(bodies), events):
            step(body)
        done = events
    else:
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for body in bodies:
                step(body)
            done += len(bodies)
    return Rate(done, time.perf_counter() - start)


# --------------------------------------------------------------------------- handler path


@dataclass(frozen=True)
class Burst:
    """``events`` made from the samples with fresh task ids, spread over ``task_definitions`` revisions."""

    events: list[dict[str, Any]]
    task_definitions: list[str]
    log_streams: LogSeed


def make_burst(size: int, definitions: int) -> Burst:
    """Cycle the samples, each copy a new task (new ids, its own log stream), over ``definitions`` ARNs.

    The samples name fewer revisions than asked, so some copies of a family move to
    an older revision: the seed registers every revision up to the one named, so
    all of them resolve.
    """
    samples = list(stopped_events().values())
    looked_up = _looked_up(samples)
    variants = _revision_variants(looked_up, definitions, _seeded_revisions())
    seed = log_seed()
    events: list[dict[str, Any]] = []
    streams: LogSeed = {}
    used: dict[str, None] = {}
    for index, sample in enumerate(islice(cycle(samples), size)):
        arn = sample["detail"]["taskDefinitionArn"]
        if arn in variants:
            options = variants[arn]
            arn = options[(index // len(samples)) % len(options)]
            used[arn] = None
        events.append(_copy_as_new_task(sample, arn, seed, streams))
    return Burst(events, list(used), streams)


def _looked_up(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """The task definition ARNs the pipeline asks for (skipped events never get that far), in order."""
    recorder = SeededTaskDefinitions(task_definition_seed())
    for sample in samples:
        process_task_event(sample, settings=Settings(), task_definitions=recorder, logs=SeededLogs({}))
    return list(dict.fromkeys(recorder.requested))


def _seeded_revisions() -> dict[str, int]:
    return {spec["family"]: int(spec["revision"]) for spec in task_definition_seed()}


def _revision_variants(arns: Sequence[str], wanted: int, seeded: Mapping[str, int]) -> dict[str, list[str]]:
    variants = {arn: [arn] for arn in arns}
    extra = wanted - len(arns)
    growable = [arn for arn in arns if seeded.get(_family(arn), 0) > 1]
    for arn in islice(cycle(growable), max(extra, 0) if growable else 0):
        family_prefix, revision = arn.rsplit(":", 1)
        older = int(revision) - len(variants[arn])
        if older < 1:
            raise BenchError(f"cannot spread the burst over {wanted} task definitions: too few revisions")
        variants[arn].append(f"{family_prefix}:{older}")
    return variants


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _copy_as_new_task(sample: Mapping[str, Any], arn: str, seed: LogSeed, streams: LogSeed) -> dict[str, Any]:
    """Same shape, new task: the task id changes everywhere it appears (ARNs, runtime ids, log streams)."""
    old_id = sample["detail"]["taskArn"].rsplit("/", 1)[-1]
    new_id = str(uuid.uuid4()) if "-" in old_id else uuid.uuid4().hex
    copy: dict[str, Any] = json.loads(json.dumps(sample).replace(old_id, new_id))
    copy["id"] = str(uuid.uuid4())
    copy["detail"]["taskDefinitionArn"] = arn
    for region, group, stream, lines in _streams(seed):
        if old_id in stream:
            streams.setdefault(region, {}).setdefault(group, {})[stream.replace(old_id, new_id)] = lines
    return copy


def _streams(seed: LogSeed) -> Iterator[tuple[str, str, str, list[str]]]:
    for region, groups in seed.items():
        for group, streams in groups.items():
            for stream, lines in streams.items():
                yield region, group, stream, lines


@dataclass(frozen=True)
class HandlerPath:
    events: int
    batch_size: int
    task_definitions: int
    failed_records: int
    describe_task_definition: int
    get_log_events: int
    clients: int
    #: Whole burst, first batch included (clients created, first calls made).
    burst: Rate
    #: From the second batch on: the warm container.
    warm_wall: Rate
    #: Warm events per CPU-second of the handler process: our cost without moto's latency.
    warm_cpu: Rate

    @property
    def calls_per_event(self) -> float:
        return (self.describe_task_definition + self.get_log_events) / self.events

    @property
    def cache_holds(self) -> bool:
        return self.describe_task_definition <= self.task_definitions


def measure_handler(burst_size: int = 1_000, definitions: int = 10) -> HandlerPath:
    from local.aws import moto_server, seed_all, seed_logs
    from local.lambda_runtime import sqs_batch

    burst = make_burst(burst_size, definitions)
    batches = [sqs_batch(*burst.events[i : i + BATCH_SIZE]) for i in range(0, len(burst.events), BATCH_SIZE)]
    quiet_moto()
    with moto_server(), tempfile.TemporaryDirectory(prefix="ecswatch-bench-") as tmp:
        seed_all()
        streams_file = Path(tmp) / "streams.json"
        streams_file.write_text(json.dumps(burst.log_streams))
        seed_logs(streams_file)
        batches_file, out_file = Path(tmp) / "batches.json", Path(tmp) / "out.json"
        batches_file.write_text(json.dumps(batches))
        command = [
            sys.executable,
            "-m",
            "bench.throughput",
            "--handler-child",
            str(batches_file),
            str(out_file),
        ]
        done = subprocess.run(
            command, env=child_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"handler child exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
        seen = json.loads(out_file.read_text())
    return _handler_result(seen, len(burst.events), len(burst.task_definitions))


def _handler_result(seen: Mapping[str, Any], events: int, definitions: int) -> HandlerPath:
    walls: list[float] = seen["walls"]
    cpus: list[float] = seen["cpus"]
    warm_events = events - min(BATCH_SIZE, events)
    return HandlerPath(
        events=events,
        batch_size=BATCH_SIZE,
        task_definitions=definitions,
        failed_records=seen["failed_records"],
        describe_task_definition=seen["describe_task_definition"],
        get_log_events=seen["get_log_events"],
        clients=seen["clients"],
        burst=Rate(events, sum(walls)),
        warm_wall=Rate(warm_events, sum(walls[1:])),
        warm_cpu=Rate(warm_events, sum(cpus[1:])),
    )


def handler_child(batches_file: Path, out_file: Path) -> None:
    """Runs in the child: every batch through the real handler, timed per batch (wall and CPU)."""
    from ecswatch.handlers.task_events import dependencies, lambda_handler
    from local.lambda_runtime import LambdaContext

    batches = json.loads(batches_file.read_text())
    walls: list[float] = []
    cpus: list[float] = []
    failed = 0
    for batch in batches:
        wall, cpu = time.perf_counter(), time.process_time()
        response = lambda_handler(batch, LambdaContext())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        failed += len(response["batchItemFailures"])
    deps = dependencies()
    seen = {
        "walls": walls,
        "cpus": cpus,
        "failed_records": failed,
        "describe_task_definition": deps.task_definitions.calls,
        "get_log_events": deps.logs.calls,
        "clients": len(deps.clients),
    }
    out_file.write_text(json.dumps(seen))


# --------------------------------------------------------------------------- both, and the report


@dataclass(frozen=True)
class Throughput:
    pure: PurePath
    handler: HandlerPath

    @property
    def goal(self) -> Goal:
        return self.pure.goal

    def to_json(self) -> dict[str, Any]:
        pure = {
            **asdict(self.pure),
            "analysis_per_second": self.pure.analysis.per_second,
            "analysis_best_slice_per_second": self.pure.analysis.best_per_second,
            "parse_only_per_second": self.pure.parse_only.per_second,
            "cost_ratio_analysis_to_parse": self.pure.cost_ratio,
        }
        handler = {
            **asdict(self.handler),
            "burst_per_second": self.handler.burst.per_second,
            "warm_wall_per_second": self.handler.warm_wall.per_second,
            "warm_cpu_per_second": self.handler.warm_cpu.per_second,
            "aws_calls_per_event": self.handler.calls_per_event,
            "describe_task_definition_cached_per_revision": self.handler.cache_holds,
        }
        goal = {**asdict(self.goal), "verdict": self.goal.verdict}
        return {"pure": pure, "handler": handler, "goal": goal}


def measure(
    seconds: float = 2.0, events: int | None = None, burst: int = 1_000, definitions: int = 10
) -> Throughput:
    return Throughput(measure_pure(seconds, events), measure_handler(burst, definitions))


def report(result: Throughput) -> str:
    p, h = result.pure, result.handler
    mix = ", ".join(f"{n} {kind}" for kind, n in p.outcomes.items())
    check = "PASS" if h.cache_holds else "MISS"
    return "\n".join(
        [
            f"Warm throughput, one core. Pure path over {p.sample_events} events/stopped-*.json, cycled",
            f"  (per pass: {mix}). events/s = median of {len(p.analysis.slices)} alternating slices each.",
            f"  baseline json.loads + parse_task_event  {p.parse_only.per_second:>10,.0f} events/s"
            f"  ({p.parse_only.events:,} events in {p.parse_only.seconds:.2f} s)",
            f"  json.loads + process_task_event         {p.analysis.per_second:>10,.0f} events/s"
            f"  ({p.analysis.events:,} events in {p.analysis.seconds:.2f} s;"
            f" best slice {p.analysis.best_per_second:,.0f}/s)",
            f"  analysis costs {p.cost_ratio:.2f}x parse per event",
            "",
            f"Handler path: {h.events:,} events in SQS batches of {h.batch_size} through lambda_handler,"
            f" fresh child process, moto over HTTP on the other core; {h.task_definitions} task definitions.",
            f"  whole burst (cold clients)    {h.burst.per_second:>8,.0f} events/s wall",
            f"  warm (from the 2nd batch)     {h.warm_wall.per_second:>8,.0f} events/s wall"
            "  (bounded by moto's latency)",
            f"  warm, handler CPU only        {h.warm_cpu.per_second:>8,.0f} events per CPU-second"
            "  (our cost)",
            f"  AWS calls: {h.describe_task_definition} DescribeTaskDefinition"
            f" + {h.get_log_events} GetLogEvents = {h.calls_per_event:.2f} per event;"
            f" {h.clients} clients; {h.failed_records} failed records",
            f"  {check}  DescribeTaskDefinition cached per revision: {h.describe_task_definition} calls for"
            f" {h.task_definitions} task definitions",
            "",
            "  " + result.goal.line(),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="time per pure-path measurement")
    parser.add_argument("--events", type=int, help="a fixed number of events per pure-path measurement")
    parser.add_argument("--burst", type=int, default=1_000, help="events through the handler (default 1000)")
    parser.add_argument("--definitions", type=int, default=10, help="task definitions in the burst")
    parser.add_argument("--handler-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.handler_child:
        handler_child(*args.handler_child)
        return 0
    result = measure(args.seconds, args.events, args.burst, args.definitions)
    print(report(result))
    print(f"\nresults: {write_results({'throughput': result.to_json()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
