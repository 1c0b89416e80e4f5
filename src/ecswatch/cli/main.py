"""ecswatch: run history, status and logs of ECS batch jobs, and manual retries, from a terminal.

    ecswatch runs JOB [--since 7d] [--failed]     runs of a job, newest first
    ecswatch status [JOB ...]                      one line per configured job
    ecswatch logs RUN_OR_TASK [--tail N | --all]   a run's log, redacted like the alerts
    ecswatch retry TASK_ARN                        start a task again, through the retry launcher
    ecswatch jobs                                  the region's scheduled ECS tasks, with jobs.yaml
    ecswatch jobs init [--output PATH] [--force]   a jobs.yaml draft from them, for review
    ecswatch datadog apply [--dry-run]             create or update the dashboard and monitors
    ecswatch doctor [--stack NAME]                 can the deployed stack do its work? exit 0 if so

Every command takes --json. AWS credentials, profile and region work as for the AWS CLI
(--profile, --region, AWS_PROFILE, AWS_REGION). The history table is --table, or
ECSWATCH_TABLE, or the StateTableName output of --stack (ECSWATCH_STACK).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import yaml

from ecswatch.adapters.dynamodb.history import DynamoRunHistory, HistoryRefused
from ecswatch.analysis.pipeline import readable_line
from ecswatch.analysis.redact import fit_tail, redact_text
from ecswatch.cli import aws, datadog, doctor, jobs, scheduled, views
from ecswatch.cli.aws import CliError
from ecswatch.cli.watchdog_alerts import read_open_alerts
from ecswatch.config.loader import load_config, parse_config, parse_duration
from ecswatch.config.model import DEFAULT_SLACK_CHANNEL, ConfigError, JobsConfig
from ecswatch.config.settings import BUNDLED_JOBS_CONFIG
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.task import MalformedEvent, TaskRef

#: How many recent runs `status` reads per job: the last one, and enough successes for the usual.
STATUS_RUNS = 50
#: The history's lower bound when asking whether a job ever ran.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: CloudWatch Logs events are at most 256 KB; nothing a person asked to read is cut.
MAX_LINE_CHARS = 262_144
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?Z?")


@dataclass
class Context:
    """What a command needs, made on first use: `ecswatch status --help` needs no AWS at all."""

    args: argparse.Namespace
    now: datetime
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @cached_property
    def session(self) -> boto3.Session:
        made = aws.session(self.args.profile, self.args.region)
        aws.require_credentials(made)
        return made

    @cached_property
    def region(self) -> str:
        return aws.require_region(self.session)

    @cached_property
    def outputs(self) -> dict[str, str]:
        stack = self.args.stack or self.environ.get("ECSWATCH_STACK")
        if not stack:
            return {}
        return dict(aws.stack_outputs(self.session.client("cloudformation", region_name=self.region), stack))

    @cached_property
    def table(self) -> str:
        name = self.args.table or self.environ.get("ECSWATCH_TABLE") or self.outputs.get("StateTableName")
        if not name:
            raise CliError("which table? use --table, set ECSWATCH_TABLE, or name the stack with --stack")
        return str(name)

    @cached_property
    def history(self) -> DynamoRunHistory:
        return DynamoRunHistory(self.session.client("dynamodb", region_name=self.region), self.table)

    @cached_property
    def jobs(self) -> JobsConfig:
        path = self.args.config or self.environ.get("ECSWATCH_CONFIG") or str(BUNDLED_JOBS_CONFIG)
        return load_config(Path(path))


# --------------------------------------------------------------------------- commands


def cmd_runs(ctx: Context) -> str:
    args = ctx.args
    since = parse_since(args.since, ctx.now)
    limit = None if args.failed else args.limit
    runs = ctx.history.runs(args.job, since=since, limit=limit)
    if not runs and ctx.jobs.job(args.job) is None:
        raise CliError(_no_such_job(args.job, ctx.jobs, since))
    if args.failed:
        runs = [r for r in runs if views.is_failed(r)][: args.limit]
    if args.json:
        return views.runs_json(args.job, runs, since=since)
    return views.runs_text(args.job, runs, since=since, failed_only=args.failed)


def cmd_status(ctx: Context) -> str:
    args = ctx.args
    since = parse_since(args.since, ctx.now)
    jobs = list(ctx.jobs.jobs)
    if args.job:
        unknown = [name for name in args.job if ctx.jobs.job(name) is None]
        if unknown:
            raise CliError(_no_such_job(unknown[0], ctx.jobs, None))
        jobs = [job for job in jobs if job.name in args.job]
    if not jobs:
        raise CliError(f"{ctx.jobs.source} configures no jobs")
    open_alerts = read_open_alerts(ctx.session.client("dynamodb", region_name=ctx.region), ctx.table)
    rows = []
    for job in jobs:
        runs = ctx.history.runs(job.name, since=since, limit=STATUS_RUNS)
        # None in the window: the newest run before it, so "no runs recorded yet" is only said when true.
        earlier = None if runs else next(iter(ctx.history.runs(job.name, since=EPOCH, limit=1)), None)
        rows.append(
            views.status_row(job, runs, ctx.now, open_alerts=open_alerts.of(job.name), last_recorded=earlier)
        )
    show = views.status_json if args.json else views.status_text
    return show(rows, since=since, alerts_problem=open_alerts.problem)


def cmd_logs(ctx: Context) -> str:
    args = ctx.args
    run = ctx.history.run(args.run)
    if run is None:
        raise CliError(
            f"no run {args.run!r} in the history (table {ctx.table}): give a task ARN, a task id, "
            "or a run id as `ecswatch runs` shows them"
        )
    group, stream = run.log_group, run.log_stream
    if not group or not stream:
        raise CliError(
            f"the log of {views.task_id(run)} cannot be located: {run.log_note or 'no log recorded'}"
        )
    client = ctx.session.client("logs", region_name=run.log_region or run.region)
    lines = redacted(aws.read_log(client, group, stream, tail=None if args.all else args.tail))
    return views.logs_json(run, lines) if args.json else views.logs_text(lines)


def cmd_retry(ctx: Context) -> str:
    args = ctx.args
    try:
        task = TaskRef.from_arns(args.task_arn, None)
    except MalformedEvent as e:
        raise CliError(
            f"{args.task_arn!r} is not a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID)"
        ) from e
    function = (
        args.function
        or ctx.environ.get("ECSWATCH_RETRY_FUNCTION")
        or ctx.outputs.get("RetryLauncherFunctionName")
    )
    if not function:
        raise CliError(
            "which function? use --function, set ECSWATCH_RETRY_FUNCTION, or name the stack with --stack"
        )
    region = ctx.session.region_name or task.region
    result = aws.invoke_retry(ctx.session.client("lambda", region_name=region), function, args.task_arn)
    if args.json:
        return views.to_json(result)
    return retry_text(args.task_arn, result)


def cmd_jobs(ctx: Context) -> str:
    tasks = scheduled_tasks(ctx)
    history, note = optional_history(ctx)
    since = parse_since(ctx.args.since, ctx.now)
    runs = None if history is None else (lambda job: history.runs(job, since=since, limit=STATUS_RUNS))
    alerts = None
    if history is not None:
        alerts = read_open_alerts(ctx.session.client("dynamodb", region_name=ctx.region), ctx.table).of
    rows = jobs.job_rows(tasks, ctx.jobs, runs, ctx.now, alerts)
    return jobs.jobs_json(rows, note=note) if ctx.args.json else jobs.jobs_text(rows, note=note)


def cmd_jobs_init(ctx: Context) -> str:
    output = Path(ctx.args.output)
    if output.exists() and not ctx.args.force:
        raise CliError(f"{output} exists; review it, or use --force to overwrite it")
    tasks = scheduled_tasks(ctx)
    channel = ctx.environ.get("SLACK_DEFAULT_CHANNEL") or DEFAULT_SLACK_CHANNEL
    text = jobs.draft_config(tasks, default_channel=channel)
    load_config_text(text, str(output))  # never write a draft that the config check refuses
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {output}: {e.strerror or e}") from e
    return (
        f"wrote {output}: {len(tasks)} jobs from the region's rules and schedules "
        "(review it before deploying)\n"
    )


def scheduled_tasks(ctx: Context) -> list[scheduled.ScheduledTask]:
    return scheduled.scheduled_tasks(
        ctx.session.client("events", region_name=ctx.region),
        ctx.session.client("scheduler", region_name=ctx.region),
    )


def optional_history(ctx: Context) -> tuple[DynamoRunHistory | None, str | None]:
    """The history when a table is named; without one, `ecswatch jobs` still lists the schedules."""
    try:
        return ctx.history, None
    except CliError as e:
        return None, f"no run history: {e}"


def load_config_text(text: str, source: str) -> JobsConfig:
    data = yaml.safe_load(text) or {}
    return parse_config(data, source)


class Unhealthy(Exception):
    """A command whose report is printed in full and still exits 1 (`ecswatch doctor` with a ✘)."""

    def __init__(self, output: str) -> None:
        super().__init__("unhealthy")
        self.output = output


def cmd_doctor(ctx: Context) -> str:
    stack = ctx.args.stack or doctor.default_stack(ctx.environ)
    region = ctx.region
    session: Any = ctx.session  # one client per service named at run time: typed per call by the checks

    checks = doctor.Doctor(
        clients=lambda name: session.client(name, region_name=region),
        stack=stack,
        region=region,
        jobs=ctx.jobs,
        now=ctx.now,
        tasks=lambda: scheduled_tasks(ctx),
    ).run()
    output = doctor.report_json(stack, checks) if ctx.args.json else doctor.report_text(stack, checks)
    if not all(check.ok for check in checks):
        raise Unhealthy(output)
    return output


def cmd_datadog_apply(ctx: Context) -> str:
    """Keys as datadog-api-client reads them (DD_API_KEY, DD_APP_KEY); DATADOG_API_URL, as for the
    functions, points at a local endpoint instead of the site's API."""
    env = ctx.environ
    client = datadog.datadog_client(
        site=ctx.args.site or env.get("DD_SITE"),
        url=env.get("DATADOG_API_URL"),
        api_key=env.get("DD_API_KEY"),
        app_key=env.get("DD_APP_KEY"),
    )
    with client:
        api = datadog.DatadogApi(client)
        changes = datadog.plan(api, datadog.shipped())
        if not ctx.args.dry_run:
            changes = datadog.apply(api, changes)
    if ctx.args.json:
        return views.to_json(datadog.changes_json(changes, dry_run=ctx.args.dry_run))
    return datadog.changes_text(changes, dry_run=ctx.args.dry_run)


def retry_text(task_arn: str, result: dict[str, Any]) -> str:
    outcome = result.get("result")
    if outcome == "launched":
        return f"retry of {task_arn} launched: {result.get('task_arn')}\n"
    if outcome == "duplicate":
        return f"a retry of {task_arn} was already launched; nothing started\n"
    # ECS's reason can carry what the task definition holds (a registry URL with its password).
    raise CliError(f"retry of {task_arn} refused: {redact_text(str(result.get('failure') or result))}")


def redacted(lines: Sequence[str]) -> list[str]:
    """The alerts' treatment: FireLens JSON records read as their text, then every credential pattern
    of ``ecswatch.analysis.redact`` hidden (multi-line private keys included); nothing is cut or dropped."""
    readable = [readable_line(line) for line in lines]
    tail = fit_tail(readable, max_lines=len(readable), max_bytes=sys.maxsize, max_line_chars=MAX_LINE_CHARS)
    return list(tail.lines)


def parse_since(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``90m`` or ``1h30m`` ago; or a UTC date or time (``2025-03-01T02:00``)."""
    value = text.strip()
    seconds = parse_duration(value)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    if _DATE.fullmatch(value):
        try:
            return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC)
        except ValueError as e:
            raise CliError(f"--since {text!r} is not a date: {e}") from e
    raise CliError(
        f"--since must be a duration like 7d, 12h, 90m or a UTC date like 2025-03-01, not {text!r}"
    )


def _no_such_job(name: str, jobs: JobsConfig, since: datetime | None) -> str:
    known = ", ".join(job.name for job in jobs.jobs) or "none"
    recorded = f" and no runs of it recorded since {views.when(since)} UTC" if since else ""
    return f"no such job {name!r}: not in {jobs.source}{recorded} (jobs: {known})"


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecswatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _common_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[Context], str], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common_options(sub, defaults=False)
        sub.set_defaults(handler=run)
        return sub

    runs = command("runs", cmd_runs, "runs of a job, newest first")
    runs.add_argument("job", metavar="JOB")
    runs.add_argument("--since", default="7d", help="how far back: 7d, 12h, 90m, or a UTC date (default 7d)")
    runs.add_argument("--failed", action="store_true", help="only runs that did not succeed")
    runs.add_argument("--limit", type=_positive, default=None, help="at most this many runs")

    status = command("status", cmd_status, "one line per configured job: last run, usual run time, next run")
    status.add_argument(
        "job", metavar="JOB", nargs="*", help="only these jobs (default: every configured job)"
    )
    status.add_argument("--since", default="30d", help="how far back to look for runs (default 30d)")

    logs = command("logs", cmd_logs, "a run's log from CloudWatch Logs, redacted like the alerts")
    logs.add_argument("run", metavar="RUN_OR_TASK", help="task ARN, task id, or run id")
    amount = logs.add_mutually_exclusive_group()
    amount.add_argument(
        "--tail", type=_positive, default=100, metavar="N", help="the last N lines (default 100)"
    )
    amount.add_argument("--all", action="store_true", help="the whole stream, from the start")

    retry = command(
        "retry", cmd_retry, "start a task again with the same parameters, through the retry launcher"
    )
    retry.add_argument("task_arn", metavar="TASK_ARN")
    retry.add_argument(
        "--function", help="the retry launcher function (default: ECSWATCH_RETRY_FUNCTION, --stack)"
    )
    jobs_help = "the region's scheduled ECS tasks, joined with jobs.yaml and the run history"
    jobs_cmd = command("jobs", cmd_jobs, jobs_help)
    jobs_cmd.add_argument("--since", default="30d", help="how far back to look for runs (default 30d)")
    jobs_actions = jobs_cmd.add_subparsers(dest="jobs_action", metavar="ACTION")
    init_help = "write a jobs.yaml draft from the region's rules and schedules, for review"
    init = jobs_actions.add_parser("init", help=init_help, description=init_help)
    _common_options(init, defaults=False)
    init.set_defaults(handler=cmd_jobs_init)
    init.add_argument("--output", default="jobs.yaml", metavar="PATH", help="where (default ./jobs.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    doctor_help = "check that the deployed stack can do its work: one line per check, the fix when it fails"
    command("doctor", cmd_doctor, doctor_help)
    dd_help = "Datadog as code: the dashboard and monitors that ship with ecswatch"
    dd = commands.add_parser("datadog", help=dd_help, description=dd_help)
    dd_actions = dd.add_subparsers(dest="datadog_action", metavar="ACTION", required=True)
    apply_help = "create or update the dashboard and monitors (matched by title and tag; idempotent)"
    dd_apply = dd_actions.add_parser("apply", help=apply_help, description=apply_help)
    _common_options(dd_apply, defaults=False)
    dd_apply.set_defaults(handler=cmd_datadog_apply)
    dd_apply.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    dd_apply.add_argument("--site", help="Datadog site, e.g. datadoghq.eu (default: DD_SITE, datadoghq.com)")
    return parser


def _common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Accepted before and after the command, as the AWS CLI does; after wins."""
    default = None if defaults else argparse.SUPPRESS
    group = parser.add_argument_group("common options")
    group.add_argument("--profile", default=default, help="AWS profile (default: AWS_PROFILE)")
    group.add_argument("--region", default=default, help="AWS region (default: AWS_REGION, the profile's)")
    group.add_argument("--table", default=default, help="state table (default: ECSWATCH_TABLE)")
    group.add_argument("--stack", default=default, help="read table and function from this stack's outputs")
    group.add_argument(
        "--config", default=default, help="jobs config (default: ECSWATCH_CONFIG, the bundled one)"
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="JSON for scripts",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None, *, now: datetime | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(args=args, now=now or datetime.now(UTC))
    try:
        sys.stdout.write(args.handler(ctx))
    except Unhealthy as e:
        sys.stdout.write(e.output)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ecswatch runs x | head`: the reader left, which is fine
        sys.stderr.close()
    except (CliError, ConfigError, DeliveryError, TransientError) as e:
        sys.stderr.write(f"ecswatch: error: {explain(e)}\n")
        return 1
    return 0


#: Where, on this command line, each kind of refused history read is fixed.
_HINTS = {
    "table": "--table/ECSWATCH_TABLE, --region, --profile",
    "credentials": "--profile or AWS_PROFILE; renew an expired session, e.g. `aws sso login`",
    "permission": "use a --profile whose role has it",
}


def explain(error: Exception) -> str:
    """One line (a config's problems: one per line) saying what is wrong and where to look."""
    if isinstance(error, ConfigError):
        return f"the jobs config is not valid:\n{error}"
    if isinstance(error, HistoryRefused):
        return f"{error} ({_HINTS[error.fix]})"
    if isinstance(error, DeliveryError):
        return f"{error} (check --table/ECSWATCH_TABLE, --region and --profile)"
    if isinstance(error, TransientError):
        return f"{error} (try again)"
    return str(error)
