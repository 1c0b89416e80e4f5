"""`ecswatch jobs` and `ecswatch jobs init` against moto: EventBridge rules and Scheduler schedules that
start ECS tasks, a jobs.yaml of the team's, and the run history table as template.yaml declares it.

moto 5.2.5 implements every call used here (ListEventBuses, ListRules, ListTargetsByRule,
ListSchedules, GetSchedule) with NextToken pagination, so the page size is shrunk to 1 in one test
to walk every page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ecswatch.adapters.dynamodb.history import DynamoRunHistory
from ecswatch.cli import jobs, scheduled
from ecswatch.cli.aws import CliError
from ecswatch.cli.main import main
from ecswatch.config.loader import load_config
from ecswatch.run import RunRecord
from local.aws import FAKE_CREDENTIALS
from tests.fakes import create_state_table_from_template

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "ecswatch-state"
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/"
TASKDEF = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecs-events"
NETWORK = {
    "awsvpcConfiguration": {
        "Subnets": ["subnet-0a1f3c5e7b9d24680"],
        "SecurityGroups": ["sg-0b7d2e4f6a8c13579"],
        "AssignPublicIp": "DISABLED",
    }
}

CONFIG = """\
defaults:
  slack_channel: "#batch-alerts"
jobs:
  nightly-report:
    match: {family: nightly-report, cluster: batch, started_by: "events-rule/nightly-report-*"}
    schedule: "cron(0 2 * * ? *)"
  invoice-export:
    match: {family: invoice-export, cluster: batch}
    schedule: "cron(30 5 * * ? *)"
  audit-export:
    match: {family: audit-export, cluster: batch}
    schedule: "cron(0 23 ? * SUN *)"
"""

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "ECSWATCH_TABLE", "ECSWATCH_STACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    with mock_aws():
        yield


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(CONFIG)
    return path


def ecs_target(family: str, cluster: str = "batch", **extra: Any) -> dict[str, Any]:
    return {
        "Id": "ecs",
        "Arn": CLUSTER + cluster,
        "RoleArn": ROLE,
        "EcsParameters": {"TaskDefinitionArn": TASKDEF + family, "LaunchType": "FARGATE", **extra},
    }


def schedule_target(family: str, cluster: str = "batch") -> dict[str, Any]:
    target = ecs_target(family, cluster, NetworkConfiguration=NETWORK)
    del target["Id"]
    return target


@pytest.fixture
def account(aws: None) -> None:
    """Three rules start tasks (one drifted from jobs.yaml, one disabled), one rule invokes a Lambda,
    and two Scheduler schedules in two groups start tasks no job configures."""
    events = boto3.client("events", region_name=REGION)
    rules = (
        ("nightly-report-daily", "cron(0 2 * * ? *)", "ENABLED", ecs_target("nightly-report:3")),
        (
            "invoice-export",
            "cron(0 6 * * ? *)",
            "ENABLED",
            ecs_target("invoice-export", NetworkConfiguration=NETWORK),
        ),
        ("image-resize-hourly", "rate(1 hour)", "DISABLED", ecs_target("image-resize:7", "legacy")),
        (
            "cleanup-lambda",
            "rate(1 day)",
            "ENABLED",
            {"Id": "fn", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cleanup"},
        ),
    )
    for name, expression, state, target in rules:
        events.put_rule(Name=name, ScheduleExpression=expression, State=state)
        events.put_targets(Rule=name, Targets=[target])
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name="batch")
    scheduler.create_schedule(
        Name="data-sync",
        GroupName="batch",
        ScheduleExpression="cron(0 3 * * ? *)",
        ScheduleExpressionTimezone="Europe/Dublin",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=schedule_target("data-sync"),
    )
    scheduler.create_schedule(
        Name="ml-features",
        ScheduleExpression="cron(15 4 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=schedule_target("ml-features:2"),
    )


def run(job: str, started: datetime, outcome: str | None, n: int) -> RunRecord:
    return RunRecord(
        job=job,
        run_id=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{n:032x}",
        cluster="batch",
        region=REGION,
        started_at=started,
        stopped_at=started + timedelta(minutes=20) if outcome else None,
        outcome=outcome,
        durations={"run": 1200.0},
    )


@pytest.fixture
def history(aws: None) -> DynamoRunHistory:
    client = boto3.client("dynamodb", region_name=REGION)
    create_state_table_from_template(client, TABLE)
    store = DynamoRunHistory(client, TABLE)
    store.record(run("nightly-report", datetime(2025, 3, 5, 2, 0, tzinfo=UTC), "succeeded", 1))
    store.record(run("invoice-export", datetime(2025, 3, 5, 6, 0, tzinfo=UTC), "failed", 2))
    store.record(run("data-sync", datetime(2025, 3, 5, 3, 0, tzinfo=UTC), "succeeded", 3))
    return store


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    def call(*argv: str) -> tuple[int, str, str]:
        code = main(["--region", REGION, *argv], now=NOW)
        out, err = capsys.readouterr()
        return code, out, err

    return call


def by_job(out: str) -> dict[str, dict[str, Any]]:
    return {row["job"]: row for row in json.loads(out)["jobs"]}


# --------------------------------------------------------------------------- ecswatch jobs


def test_jobs_lists_every_rule_and_schedule_that_starts_a_task_joined_with_the_config_and_history(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli
) -> None:
    code, out, err = cli("jobs", "--config", str(config), "--table", TABLE, "--json")

    assert (code, err) == (0, "")
    rows = by_job(out)
    assert set(rows) == {
        "nightly-report",
        "invoice-export",
        "image-resize",
        "data-sync",
        "ml-features",
        "audit-export",
    }
    nightly = rows["nightly-report"]
    assert nightly["started_by"] == {"kind": "rule", "name": "nightly-report-daily", "group": None}
    assert (nightly["configured"], nightly["drift"], nightly["enabled"]) == (True, False, True)
    assert nightly["last_run"] == {"started_at": "2025-03-05T02:00:00.000Z", "outcome": "succeeded"}
    assert nightly["next_run"] == "2025-03-06T02:00:00.000Z"
    assert nightly["family"] == "nightly-report"


def test_a_schedule_that_differs_from_jobs_yaml_is_marked_as_drift_with_both_expressions(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli
) -> None:
    _, out, _ = cli("jobs", "--config", str(config), "--table", TABLE, "--json")

    invoice = by_job(out)["invoice-export"]
    assert (invoice["schedule"], invoice["config_schedule"], invoice["drift"]) == (
        "cron(0 6 * * ? *)",
        "cron(30 5 * * ? *)",
        True,
    )
    # The failed last run is in its own column; ALERTS holds only what the watchdog has open.
    assert invoice["last_run"]["outcome"] == "failed"
    assert invoice["alerts"] == []


def test_tasks_no_job_matches_are_listed_under_their_family_in_the_schedules_time_zone(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli
) -> None:
    _, out, _ = cli("jobs", "--config", str(config), "--table", TABLE, "--json")

    sync = by_job(out)["data-sync"]
    assert sync["configured"] is False
    assert sync["drift"] is None
    assert sync["started_by"] == {"kind": "schedule", "name": "data-sync", "group": "batch"}
    assert sync["timezone"] == "Europe/Dublin"
    # 03:00 in Dublin is 03:00 UTC in March (no summer time yet).
    assert sync["next_run"] == "2025-03-06T03:00:00.000Z"
    assert sync["last_run"]["outcome"] == "succeeded"
    ml = by_job(out)["ml-features"]
    assert (ml["configured"], ml["started_by"]["group"], ml["last_run"]) == (False, "default", None)


def test_a_disabled_rule_has_no_next_run_and_a_job_nothing_starts_is_flagged(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli
) -> None:
    _, out, _ = cli("jobs", "--config", str(config), "--table", TABLE, "--json")

    rows = by_job(out)
    assert (rows["image-resize"]["enabled"], rows["image-resize"]["next_run"]) == (False, None)
    assert rows["image-resize"]["cluster"] == "legacy"
    audit = rows["audit-export"]
    assert (audit["started_by"], audit["drift"]) == (None, True)
    assert audit["alerts"][0] == "no rule or schedule starts this job"


def test_the_table_marks_drift_and_unconfigured_jobs(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli
) -> None:
    code, out, _ = cli("jobs", "--config", str(config), "--table", TABLE)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["JOB", "STARTED", "BY"]
    invoice = next(line for line in lines if line.startswith("invoice-export"))
    assert "yes: jobs.yaml says cron(30 5 * * ? *)" in invoice
    sync = next(line for line in lines if line.startswith("data-sync"))
    assert "schedule batch/data-sync" in sync
    assert "cron(0 3 * * ? *) Europe/Dublin" in sync
    assert lines[-1] == "(6 jobs; 3 not in jobs.yaml; 2 with schedule drift)"


def test_every_page_of_every_list_is_read(
    account: None, history: DynamoRunHistory, config: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, whole, _ = cli("jobs", "--config", str(config), "--table", TABLE, "--json")
    monkeypatch.setattr(scheduled, "PAGE_SIZE", 1)

    _, paged, _ = cli("jobs", "--config", str(config), "--table", TABLE, "--json")

    assert paged == whole


def test_without_a_history_table_the_schedules_are_still_listed_and_it_says_why_runs_are_missing(
    account: None, config: Path, cli: Cli
) -> None:
    code, out, _ = cli("jobs", "--config", str(config))

    assert code == 0
    assert out.splitlines()[-1].startswith("(no run history: which table?")
    assert "nightly-report" in out


def test_an_account_without_scheduled_tasks_says_so(aws: None, tmp_path: Path, cli: Cli) -> None:
    empty = tmp_path / "jobs.yaml"
    empty.write_text("jobs: {}\n")

    code, out, _ = cli("jobs", "--config", str(empty))

    assert code == 0
    assert out.startswith("no EventBridge rule or Scheduler schedule starts an ECS task in this region\n")


def test_a_denied_list_is_one_line_naming_the_permissions(aws: None) -> None:
    events = boto3.client("events", region_name=REGION)
    with Stubber(events) as stub:
        stub.add_client_error("list_event_buses", "AccessDeniedException", "not authorized")
        with pytest.raises(CliError) as refused:
            scheduled.rule_tasks(events)

    assert str(refused.value) == (
        "not allowed to read EventBridge (AccessDeniedException); "
        "grant events:ListEventBuses, events:ListRules, events:ListTargetsByRule"
    )


# --------------------------------------------------------------------------- ecswatch jobs init


def test_init_writes_a_draft_that_passes_the_config_check_and_matches_each_task(
    account: None, cli: Cli, tmp_path: Path
) -> None:
    output = tmp_path / "draft.yaml"

    code, out, err = cli("jobs", "init", "--output", str(output))

    assert (code, err) == (0, "")
    assert out.startswith(f"wrote {output}: 5 jobs")
    config = load_config(output)
    tasks = scheduled.scheduled_tasks(
        boto3.client("events", region_name=REGION), boto3.client("scheduler", region_name=REGION)
    )
    assert {task.name: jobs.job_for(config, task).name for task in tasks} == {  # type: ignore[union-attr]
        "nightly-report-daily": "nightly-report-daily",
        "invoice-export": "invoice-export",
        "image-resize-hourly": "image-resize-hourly",
        "data-sync": "data-sync",
        "ml-features": "ml-features",
    }


def test_init_takes_the_rules_schedule_and_network_and_leaves_retries_commented_out(
    account: None, cli: Cli, tmp_path: Path
) -> None:
    output = tmp_path / "draft.yaml"
    cli("jobs", "init", "--output", str(output))

    config = load_config(output)
    invoice = config.job("invoice-export")
    assert invoice is not None
    assert invoice.schedule == "cron(0 6 * * ? *)"
    assert invoice.match.started_by == "events-rule/invoice-export"
    assert invoice.network is not None
    assert invoice.network.subnets == ("subnet-0a1f3c5e7b9d24680",)
    assert invoice.retry.attempts == 1
    assert "    # retry:" in output.read_text()
    # jobs.yaml schedules are UTC: a Dublin schedule is left for the watchdog to read from Scheduler.
    sync = config.job("data-sync")
    assert sync is not None
    assert sync.schedule is None
    assert sync.match.started_by == "chronos-schedule/data-sync"


def test_init_never_overwrites_a_file_without_force(account: None, cli: Cli, tmp_path: Path) -> None:
    output = tmp_path / "jobs.yaml"
    output.write_text("# the team's reviewed config\n")

    code, _, err = cli("jobs", "init", "--output", str(output))

    assert code == 1
    assert err == f"ecswatch: error: {output} exists; review it, or use --force to overwrite it\n"
    assert output.read_text() == "# the team's reviewed config\n"
    assert cli("jobs", "init", "--output", str(output), "--force")[0] == 0
    assert load_config(output).job("nightly-report-daily") is not None


def test_a_long_rule_name_is_matched_by_the_36_characters_ecs_keeps_of_started_by(aws: None) -> None:
    task = scheduled.ScheduledTask(
        source=scheduled.RULE,
        name="nightly-report-for-the-finance-team-in-emea",
        group=None,
        expression="cron(0 2 * * ? *)",
        timezone="UTC",
        enabled=True,
        cluster="batch",
        task_definition="nightly-report",
        task_group=None,
        launch_type=None,
        network=None,
    )
    assert task.started_by == "events-rule/nightly-report-for-the-f"
    draft = jobs.draft_config([task], default_channel="#batch-alerts")
    assert '      started_by: "events-rule/nightly-report-for-the-f"' in draft.splitlines()


def test_the_commented_retry_policy_is_valid_once_uncommented(
    account: None, cli: Cli, tmp_path: Path
) -> None:
    output = tmp_path / "draft.yaml"
    cli("jobs", "init", "--output", str(output))
    uncommented = tmp_path / "reviewed.yaml"

    uncommented.write_text(re.sub(r"(?m)^    # (retry:|  )", r"    \1", output.read_text()))

    invoice = load_config(uncommented).job("invoice-export")
    assert invoice is not None
    assert invoice.retry.attempts == 2
    assert [(r.on_outcome, r.action) for r in invoice.retry.evaluate_on_exit] == [("failed", "EXIT")]
