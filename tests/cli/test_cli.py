"""The ``ecswatch`` command line against moto: the history table as template.yaml declares it, filled by
the real recorder from the sample events, and the seeded log streams.

Each command prints a readable table by default and JSON with ``--json``; a mistake (no such job, no
credentials, a missing table) is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws
from msgspec.structs import replace

from ecswatch.adapters.dynamodb.history import DynamoRunHistory
from ecswatch.adapters.dynamodb.watchdog_state import DynamoWatchdogState
from ecswatch.analysis.pipeline import readable_line
from ecswatch.analysis.redact import fit_tail
from ecswatch.cli import aws as cli_aws
from ecswatch.cli import main as cli_main
from ecswatch.cli import views, watchdog_alerts
from ecswatch.cli.main import main
from ecswatch.config.loader import parse_config
from ecswatch.errors import TransientError
from ecswatch.history.records import run_record
from ecswatch.run import RunRecord, ScheduleWatch
from local import DEMO_JOBS_CONFIG
from local.aws import FAKE_CREDENTIALS, SEED, seed_logs
from tests.fakes import SampleReport, create_state_table_from_template

pytestmark = pytest.mark.offline

TABLE = "ecswatch-state"
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
SINCE = "2025-03-01"
ARN = "arn:aws:ecs:eu-west-1:123456789012:task/batch/"
INVOICE_FAILED = "f77fae8dc62fd89bd256b1c897d44a25"  # stopped-nonzero-exit
NIGHTLY_OK = "c50ead5370796d06e8a8c6c917151c46"  # running-fargate, then stopped-success

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "ECSWATCH_TABLE", "ECSWATCH_STACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ECSWATCH_RETRY_FUNCTION", raising=False)
    monkeypatch.setenv("ECSWATCH_CONFIG", str(DEMO_JOBS_CONFIG))  # the jobs the sample events belong to
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_state_table_from_template(client, TABLE)
        yield client


@pytest.fixture
def seeded_logs(aws: Any) -> None:
    """The log streams of the sample events (events/seed/log-events.json)."""
    seed_logs()


@pytest.fixture
def history(aws: Any, sample_report: SampleReport) -> DynamoRunHistory:
    """What the task-events function records for the sample events, in the order they arrive."""
    store = DynamoRunHistory(aws, TABLE)
    for name in (
        "running-fargate",
        "stopped-success",
        "stopped-user",
        "stopped-nonzero-exit",
        "stopped-timed-out",
        "stopped-taskdef-deleted",
    ):
        store.record(run_record(sample_report(name)))
    return store


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*argv: str, table: bool = True) -> tuple[int, str, str]:
        args = [*argv, "--table", TABLE] if table else list(argv)
        code = main(args, now=NOW)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def earlier_successes(job: str, seconds: list[float]) -> list[RunRecord]:
    """Successful runs an hour apart before the sample events, newest first."""
    return [
        RunRecord(
            job=job,
            run_id=f"{ARN}{i + 1:032x}",
            cluster="batch",
            region="eu-west-1",
            started_at=datetime(2025, 3, 3, 2, 0, tzinfo=UTC) - timedelta(hours=i),
            stopped_at=datetime(2025, 3, 3, 2, 30, tzinfo=UTC) - timedelta(hours=i),
            outcome="succeeded",
            durations={"run": s, "start_latency": 20.0},
        )
        for i, s in enumerate(seconds)
    ]


def lines_of(text: str) -> list[str]:
    return text.splitlines()


# --------------------------------------------------------------------------- ecswatch runs


def test_runs_prints_a_table_of_the_jobs_runs_newest_first(history: DynamoRunHistory, cli: Cli) -> None:
    code, out, err = cli("runs", "nightly-report", "--since", SINCE)

    title, header, newest, oldest = lines_of(out)
    assert (code, err) == (0, "")
    assert title == "nightly-report: 2 runs since 2025-03-01 00:00:00 UTC, newest first"
    assert header.split() == [
        "START",
        "(UTC)",
        "DURATION",
        "START",
        "LATENCY",
        "OUTCOME",
        "EXIT",
        "ATTEMPT",
        "TASK",
        "LOG",
    ]
    assert newest.split()[:8] == [
        "2025-03-05",
        "02:00:02",
        "1h47m14s",
        "32.2s",
        "stopped_by_user",
        "137",
        "1/1",
        "3dda76dd03966c5f8499ea653351cd50",
    ]
    assert oldest.split()[:8] == [
        "2025-03-04",
        "02:00:03",
        "14m16s",
        "33.1s",
        "succeeded",
        "0",
        "1/1",
        NIGHTLY_OK,
    ]
    assert oldest.split()[8].startswith("https://eu-west-1.console.aws.amazon.com/cloudwatch/home")


def test_runs_json_gives_every_field_of_each_run_for_scripts(history: DynamoRunHistory, cli: Cli) -> None:
    code, out, _ = cli("runs", "nightly-report", "--since", SINCE, "--json")

    data = json.loads(out)
    assert code == 0
    assert data["job"] == "nightly-report"
    assert data["since"] == "2025-03-01T00:00:00.000Z"
    newest, oldest = data["runs"]
    assert oldest["run_id"] == f"{ARN}{NIGHTLY_OK}"
    assert oldest["task_id"] == NIGHTLY_OK
    assert (oldest["outcome"], oldest["exit_code"], oldest["attempt"], oldest["attempts_of"]) == (
        "succeeded",
        0,
        1,
        1,
    )
    assert oldest["started_at"] == "2025-03-04T02:00:03.118Z"
    assert oldest["durations"]["run"] == pytest.approx(855.697)
    assert oldest["log_group"] == "/ecs/nightly-report"
    assert newest["outcome"] == "stopped_by_user"


def test_runs_failed_shows_only_the_runs_that_did_not_succeed(history: DynamoRunHistory, cli: Cli) -> None:
    _, out, _ = cli("runs", "nightly-report", "--since", SINCE, "--failed")

    title, _, only = lines_of(out)
    assert title.startswith("nightly-report: 1 failed run since")
    assert "stopped_by_user" in only


def test_runs_since_a_duration_counts_back_from_now(history: DynamoRunHistory, cli: Cli) -> None:
    _, out, _ = cli("runs", "nightly-report", "--since", "12h", "--json")

    (run,) = json.loads(out)["runs"]
    assert run["outcome"] == "stopped_by_user"


def test_runs_of_a_configured_job_without_runs_says_so(history: DynamoRunHistory, cli: Cli) -> None:
    code, out, _ = cli("runs", "payments-recon", "--since", "1d")

    assert code == 0
    assert out == "payments-recon: no runs since 2025-03-04 12:00:00 UTC\n"


def test_runs_of_an_unknown_job_is_an_error_that_lists_the_configured_jobs(
    history: DynamoRunHistory, cli: Cli
) -> None:
    code, out, err = cli("runs", "nightly-reprot", "--since", SINCE)

    assert (code, out) == (1, "")
    assert err.startswith("ecswatch: error: no such job 'nightly-reprot': not in ")
    assert "(jobs: nightly-report, invoice-export," in err
    assert "Traceback" not in err


def test_runs_of_an_unconfigured_family_with_recorded_runs_are_shown(
    history: DynamoRunHistory, cli: Cli, sample_report: SampleReport, tmp_path: Any
) -> None:
    history.record(
        replace(run_record(sample_report("stopped-oom")), started_at=datetime(2025, 3, 2, tzinfo=UTC))
    )
    no_jobs = tmp_path / "jobs.yaml"
    no_jobs.write_text("jobs: {}\n")

    code, out, _ = cli("runs", "image-resize", "--since", SINCE, "--config", str(no_jobs))

    assert code == 0
    assert "out_of_memory" in out


def test_a_bad_since_is_an_error(history: DynamoRunHistory, cli: Cli) -> None:
    code, _, err = cli("runs", "nightly-report", "--since", "last week")

    assert code == 1
    assert "--since must be a duration like 7d, 12h, 90m or a UTC date like 2025-03-01" in err


# --------------------------------------------------------------------------- ecswatch status


def test_status_prints_one_line_per_configured_job(history: DynamoRunHistory, cli: Cli) -> None:
    code, out, _ = cli("status", "--since", SINCE)

    lines = lines_of(out)
    assert code == 0
    assert lines[0].split()[:3] == ["JOB", "LAST", "RUN"]
    jobs = [line.split()[0] for line in lines[1:-1]]
    assert jobs == [
        "nightly-report",
        "invoice-export",
        "image-resize",
        "data-sync",
        "payments-recon",
        "ml-features",
        "warehouse-load",
        "audit-export",
        "legacy-etl",
    ]
    assert lines[-1].startswith("(runs since 2025-03-01 00:00:00 UTC;")


def test_status_shows_the_last_run_its_usual_the_next_run_and_open_alerts(
    history: DynamoRunHistory, cli: Cli
) -> None:
    for run in earlier_successes("invoice-export", [600.0, 700.0, 800.0, 900.0, 1000.0]):
        history.record(run)

    _, out, _ = cli("status", "invoice-export", "--since", SINCE, "--json")

    (job,) = json.loads(out)["jobs"]
    assert job["last_started_at"] == "2025-03-05T05:30:03.194Z"
    assert job["last_outcome"] == "timed_out"
    assert (job["median_run_time"], job["p95_run_time"], job["successful_runs_counted"]) == (800.0, 1000.0, 5)
    assert job["next_run"] == "2025-03-06T05:30:00.000Z"
    assert job["alerts"] == []  # the watchdog holds nothing open for it (the timeout was alerted then)


def test_status_table_shows_durations_against_median_and_p95(history: DynamoRunHistory, cli: Cli) -> None:
    for run in earlier_successes("invoice-export", [600.0, 700.0, 800.0, 900.0, 1000.0]):
        history.record(run)

    _, out, _ = cli("status", "invoice-export", "--since", SINCE)

    _, row, _ = lines_of(out)
    assert row.split()[:8] == [
        "invoice-export",
        "2025-03-05",
        "05:30:03",
        "timed_out",
        "2h00m52s",
        "13m20s",
        "16m40s",
        "2025-03-06",
    ]
    assert row.endswith("2025-03-06 05:30:00  -")


def test_status_of_an_unknown_job_is_an_error(history: DynamoRunHistory, cli: Cli) -> None:
    code, _, err = cli("status", "no-such-job")

    assert code == 1
    assert "no such job 'no-such-job'" in err


def test_status_alerts_are_the_ones_the_watchdog_raised_and_still_has_open(
    history: DynamoRunHistory, aws: Any, cli: Cli
) -> None:
    watchdog = DynamoWatchdogState(aws, TABLE)
    watchdog.start_watching("nightly-report", datetime(2025, 3, 1, tzinfo=UTC))
    watchdog.open_miss("warehouse-load", datetime(2025, 3, 4, 1, 0, tzinfo=UTC))

    _, out, _ = cli("status", "--since", SINCE, "--json")

    alerts = {job["job"]: job["alerts"] for job in json.loads(out)["jobs"]}
    assert alerts["warehouse-load"] == ["missed run expected 2025-03-04 01:00:00 UTC"]
    # invoice-export's last run timed out and nightly-report's 02:00 run is computable as late from
    # the schedule, but the watchdog holds no open alert for either: the failure was alerted when it
    # happened, and the OUTCOME column shows it.
    assert alerts["invoice-export"] == []
    assert alerts["nightly-report"] == []


def test_status_table_shows_the_watchdogs_open_missed_run(
    history: DynamoRunHistory, aws: Any, cli: Cli
) -> None:
    DynamoWatchdogState(aws, TABLE).open_miss("warehouse-load", datetime(2025, 3, 4, 1, 0, tzinfo=UTC))

    _, out, _ = cli("status", "--since", SINCE)

    (row,) = [line for line in lines_of(out) if line.startswith("warehouse-load")]
    assert row.endswith("  missed run expected 2025-03-04 01:00:00 UTC")


def test_status_of_a_job_without_history_says_no_runs_recorded_yet(
    history: DynamoRunHistory, cli: Cli
) -> None:
    code, out, _ = cli("status", "image-resize", "--since", SINCE)

    _, row, _ = lines_of(out)
    assert code == 0
    assert row.split("  ")[:2] == ["image-resize", "no runs recorded yet"]
    assert "missed" not in row


def test_status_shows_a_run_older_than_since_as_the_last_run_not_as_no_runs(
    history: DynamoRunHistory, cli: Cli
) -> None:
    old = earlier_successes("image-resize", [600.0])[0]
    history.record(replace(old, started_at=datetime(2025, 1, 10, 3, 0, tzinfo=UTC)))

    _, out, _ = cli("status", "image-resize", "--since", SINCE, "--json")

    (job,) = json.loads(out)["jobs"]
    assert job["last_started_at"] == "2025-01-10T03:00:00.000Z"
    assert job["last_outcome"] == "succeeded"


def test_status_says_so_when_the_watchdog_state_cannot_be_read(
    history: DynamoRunHistory, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: DynamoWatchdogState) -> None:
        raise TransientError("DynamoDB query: AccessDeniedException")

    monkeypatch.setattr(DynamoWatchdogState, "schedule_watches", refused)

    code, out, _ = cli("status", "invoice-export", "--since", SINCE)
    _, out_json, _ = cli("status", "invoice-export", "--since", SINCE, "--json")

    assert code == 0
    _, row, *footer = lines_of(out)
    assert row.endswith("  unknown")
    assert footer[-1] == (
        "(ALERTS unknown: the watchdog's state was not read: DynamoDB query: AccessDeniedException)"
    )
    (job,) = json.loads(out_json)["jobs"]
    assert job["alerts"] is None
    assert json.loads(out_json)["alerts_problem"] == (
        "the watchdog's state was not read: DynamoDB query: AccessDeniedException"
    )


# --------------------------------------------------------------------------- ecswatch logs


def seeded_lines(group: str, stream: str) -> list[str]:
    return list(json.loads((SEED / "log-events.json").read_text())["eu-west-1"][group][stream])


def alert_redaction(lines: list[str]) -> list[str]:
    """What the alert path does to log lines: FireLens records read as text, then ecswatch.analysis.redact."""
    readable = [readable_line(line) for line in lines]
    return list(fit_tail(readable, max_lines=len(readable), max_bytes=10**9, max_line_chars=10**6).lines)


def test_logs_prints_the_runs_log_redacted_like_the_alerts(
    seeded_logs: None, history: DynamoRunHistory, cli: Cli
) -> None:
    raw = seeded_lines("/ecs/invoice-export", f"ecs/export/{INVOICE_FAILED}")

    code, out, _ = cli("logs", INVOICE_FAILED, "--all")

    assert code == 0
    assert lines_of(out) == alert_redaction(raw)
    assert "[REDACTED]" in out
    assert lines_of(out) != raw  # the seed holds credentials that must not be printed


def test_logs_tail_prints_the_last_n_lines(seeded_logs: None, history: DynamoRunHistory, cli: Cli) -> None:
    raw = seeded_lines("/ecs/invoice-export", f"ecs/export/{INVOICE_FAILED}")

    _, out, _ = cli("logs", INVOICE_FAILED, "--tail", "3")

    assert lines_of(out) == alert_redaction(raw)[-3:]


def test_logs_read_every_page_of_a_long_stream(
    seeded_logs: None, history: DynamoRunHistory, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_aws, "LOG_PAGE_LIMIT", 5)
    raw = seeded_lines("/ecs/invoice-export", f"ecs/export/{INVOICE_FAILED}")

    _, everything, _ = cli("logs", INVOICE_FAILED, "--all")
    _, tail, _ = cli("logs", INVOICE_FAILED, "--tail", "12")

    assert len(raw) > 2 * 5
    assert lines_of(everything) == alert_redaction(raw)
    assert lines_of(tail) == alert_redaction(raw)[-12:]


def test_logs_finds_the_run_by_task_arn_as_well_as_task_id(
    seeded_logs: None, history: DynamoRunHistory, cli: Cli
) -> None:
    _, by_id, _ = cli("logs", INVOICE_FAILED, "--tail", "5")
    _, by_arn, _ = cli("logs", f"{ARN}{INVOICE_FAILED}", "--tail", "5")

    assert by_id == by_arn
    assert len(lines_of(by_id)) == 5


def test_logs_json_names_the_stream_and_lists_the_lines(
    seeded_logs: None, history: DynamoRunHistory, cli: Cli
) -> None:
    _, out, _ = cli("logs", INVOICE_FAILED, "--tail", "2", "--json")

    data = json.loads(out)
    assert (data["job"], data["log_group"], data["log_stream"]) == (
        "invoice-export",
        "/ecs/invoice-export",
        f"ecs/export/{INVOICE_FAILED}",
    )
    assert len(data["lines"]) == 2


def test_logs_of_a_run_not_in_the_history_is_an_error(history: DynamoRunHistory, cli: Cli) -> None:
    code, out, err = cli("logs", "0" * 32)

    assert (code, out) == (1, "")
    assert f"no run '{'0' * 32}' in the history (table {TABLE})" in err


def test_logs_of_a_run_whose_log_cannot_be_located_says_why(history: DynamoRunHistory, cli: Cli) -> None:
    code, _, err = cli("logs", "dcce1dbef8668c5b6a69263cf7a98251")

    assert code == 1
    assert "cannot be located: task definition legacy-etl:2 could not be read" in err


def test_logs_of_a_stream_that_expired_is_an_error(
    seeded_logs: None, history: DynamoRunHistory, cli: Cli, sample_report: SampleReport
) -> None:
    gone = replace(run_record(sample_report("stopped-success")), log_stream="ecs/report/gone")
    history.record(gone)

    code, _, err = cli("logs", NIGHTLY_OK)

    assert code == 1
    assert "log stream /ecs/nightly-report / ecs/report/gone not found (expired, or never written)" in err


# --------------------------------------------------------------------------- ecswatch retry


@pytest.fixture
def launcher(aws: Any) -> str:
    role = boto3.client("iam").create_role(
        RoleName="launcher", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    boto3.client("lambda").create_function(
        FunctionName="ecswatch-RetryLauncherFunction",
        Runtime="python3.12",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return "ecswatch-RetryLauncherFunction"


def launcher_answers(answer: dict[str, Any]) -> None:
    """moto's docker-free Lambda answers from this queue (else it echoes the payload back)."""
    from moto.awslambda_simple.models import lambda_simple_backends

    lambda_simple_backends["123456789012"]["eu-west-1"].lambda_simple_results_queue.append(json.dumps(answer))


def test_retry_invokes_the_launcher_with_the_task_arn(launcher: str, cli: Cli) -> None:
    code, out, _ = cli("retry", f"{ARN}{INVOICE_FAILED}", "--function", launcher, "--json", table=False)

    assert code == 0
    assert json.loads(out) == {"retry_task_arn": f"{ARN}{INVOICE_FAILED}"}  # echoed: what was sent


def test_retry_says_which_task_the_launcher_started(
    launcher: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECSWATCH_RETRY_FUNCTION", launcher)
    launcher_answers({"result": "launched", "task_arn": f"{ARN}{'e' * 32}", "failure": None})

    code, out, _ = cli("retry", f"{ARN}{INVOICE_FAILED}", table=False)

    assert code == 0
    assert out == f"retry of {ARN}{INVOICE_FAILED} launched: {ARN}{'e' * 32}\n"


def test_a_refused_retry_is_an_error_with_ecs_reason(launcher: str, cli: Cli) -> None:
    launcher_answers({"result": "refused", "task_arn": None, "failure": "RESOURCE:MEMORY"})

    code, _, err = cli("retry", f"{ARN}{INVOICE_FAILED}", "--function", launcher, table=False)

    assert code == 1
    assert err == f"ecswatch: error: retry of {ARN}{INVOICE_FAILED} refused: RESOURCE:MEMORY\n"


def test_retry_of_something_that_is_not_a_task_arn_is_an_error(launcher: str, cli: Cli) -> None:
    code, _, err = cli("retry", INVOICE_FAILED, "--function", launcher, table=False)

    assert code == 1
    assert "is not a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID)" in err


def stubbed_lambda() -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="eu-west-1")
    return client, Stubber(client)


def test_retry_through_a_missing_function_is_an_error(aws: Any) -> None:
    client, stub = stubbed_lambda()
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found: nope")

    with stub, pytest.raises(cli_aws.CliError, match="function 'nope' not found in this region"):
        cli_aws.invoke_retry(client, "nope", f"{ARN}{INVOICE_FAILED}")


def test_a_launcher_that_raises_is_an_error_with_its_message(aws: Any) -> None:
    client, stub = stubbed_lambda()
    body = json.dumps(
        {"errorMessage": "no such task (or it expired from ECS)", "errorType": "MalformedEvent"}
    )
    stub.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": StreamingBody(io.BytesIO(body.encode()), len(body)),
        },
    )

    with stub, pytest.raises(cli_aws.CliError) as raised:
        cli_aws.invoke_retry(client, "launcher", f"{ARN}{INVOICE_FAILED}")

    assert str(raised.value) == "the retry launcher failed: no such task (or it expired from ECS)"


# --------------------------------------------------------------------------- where things are, and errors


def test_the_table_and_function_can_come_from_the_stack_outputs(
    history: DynamoRunHistory, launcher: str, cli: Cli
) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateTableName": {"Value": TABLE},
            "RetryLauncherFunctionName": {"Value": launcher},
        },
    }
    boto3.client("cloudformation").create_stack(StackName="ecswatch", TemplateBody=json.dumps(template))

    runs = cli("runs", "nightly-report", "--since", SINCE, "--stack", "ecswatch", table=False)
    retry = cli("retry", f"{ARN}{INVOICE_FAILED}", "--stack", "ecswatch", "--json", table=False)

    assert runs[0] == 0
    assert "2 runs since" in runs[1]
    assert retry[0] == 0


def test_a_stack_that_does_not_exist_is_an_error(aws: Any, cli: Cli) -> None:
    code, _, err = cli("runs", "nightly-report", "--stack", "nope", table=False)

    assert code == 1
    assert "CloudFormation stack 'nope' not found in this region" in err


def test_without_a_table_the_cli_asks_for_one(aws: Any, cli: Cli) -> None:
    code, _, err = cli("runs", "nightly-report", table=False)

    assert code == 1
    assert err == (
        "ecswatch: error: which table? use --table, set ECSWATCH_TABLE, or name the stack with --stack\n"
    )


def test_a_missing_table_is_a_clear_error(aws: Any, cli: Cli) -> None:
    code, _, err = cli("runs", "nightly-report", "--table", "no-such-table", table=False)

    assert code == 1
    assert err == (
        "ecswatch: error: DynamoDB Query: table 'no-such-table' not found (ResourceNotFoundException); "
        "check the table name and region (--table/ECSWATCH_TABLE, --region, --profile)\n"
    )


@pytest.fixture
def refused(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """The history table as the CLI reads it, answering with the errors a test adds."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    monkeypatch.setattr(
        cli_main.Context, "history", property(lambda ctx: DynamoRunHistory(client, ctx.table))
    )
    return Stubber(client)


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [
        (
            "ExpiredToken",
            "The security token included in the request is expired",
            "DynamoDB Query: AWS refused the credentials (ExpiredToken: The security token included in the "
            "request is expired); check your AWS credentials/profile (--profile or AWS_PROFILE; renew an "
            "expired session, e.g. `aws sso login`)",
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            "DynamoDB Query: AWS refused the credentials (UnrecognizedClientException: The security token "
            "included in the request is invalid.); check your AWS credentials/profile (--profile or "
            "AWS_PROFILE; renew an expired session, e.g. `aws sso login`)",
        ),
        (
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/dev/me is not authorized to perform: "
            "dynamodb:Query on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/ecswatch-state",
            f"DynamoDB Query on {TABLE!r} not allowed (AccessDeniedException); the credentials need "
            "dynamodb:Query (use a --profile whose role has it)",
        ),
        (
            "ResourceNotFoundException",
            "Requested resource not found",
            f"DynamoDB Query: table {TABLE!r} not found (ResourceNotFoundException); check the table name "
            "and region (--table/ECSWATCH_TABLE, --region, --profile)",
        ),
    ],
)
def test_an_error_waiting_will_not_mend_is_one_line_saying_what_to_fix(
    refused: Stubber, cli: Cli, code: str, message: str, said: str
) -> None:
    refused.add_client_error("query", code, message)

    with refused:
        status, out, err = cli("runs", "nightly-report")

    assert (status, out, err) == (1, "", f"ecswatch: error: {said}\n")


def test_a_table_without_the_run_id_index_says_so_in_one_line(refused: Stubber, cli: Cli) -> None:
    refused.add_client_error(
        "query", "ValidationException", "The table does not have the specified index: gsi1"
    )

    with refused:
        status, _, err = cli("logs", NIGHTLY_OK)

    assert (status, err) == (
        1,
        f"ecswatch: error: DynamoDB Query on {TABLE!r} refused (ValidationException: The table does not have "
        "the specified index: gsi1); is it the ecswatch state table (keys pk/sk, index gsi1)? "
        "(--table/ECSWATCH_TABLE, --region, --profile)\n",
    )


def test_throttling_still_says_to_try_again(refused: Stubber, cli: Cli) -> None:
    refused.add_client_error("query", "ThrottlingException", "Rate exceeded")

    with refused:
        status, _, err = cli("runs", "nightly-report")

    assert (status, err) == (
        1,
        f"ecswatch: error: DynamoDB Query on {TABLE!r}: ThrottlingException (try again)\n",
    )


def test_without_credentials_the_cli_says_how_to_give_them(
    aws: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)

    code, _, err = cli("runs", "nightly-report")

    assert code == 1
    assert err.startswith("ecswatch: error: no AWS credentials found: use --profile or AWS_PROFILE")


def test_an_unknown_profile_is_a_clear_error(aws: Any, cli: Cli) -> None:
    code, _, err = cli("runs", "nightly-report", "--profile", "prod")

    assert code == 1
    assert err == "ecswatch: error: AWS profile 'prod' not found in ~/.aws/config or ~/.aws/credentials\n"


def test_without_a_region_the_cli_says_how_to_give_one(
    aws: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    code, _, err = cli("runs", "nightly-report")

    assert code == 1
    assert "no AWS region: use --region, AWS_REGION" in err


def test_common_options_work_before_and_after_the_command(history: DynamoRunHistory, cli: Cli) -> None:
    before = cli("--json", "--region", "eu-west-1", "runs", "nightly-report", "--since", SINCE)
    after = cli("runs", "nightly-report", "--since", SINCE, "--region", "eu-west-1", "--json")

    assert before == after
    assert before[0] == 0


def test_a_config_with_problems_is_reported_with_its_problems(
    history: DynamoRunHistory, cli: Cli, tmp_path: Any
) -> None:
    bad = tmp_path / "jobs.yaml"
    bad.write_text("jobs:\n  x:\n    match: {family: x}\n    slow_run: {factor: 0}\n")

    code, _, err = cli("status", "--config", str(bad))

    assert code == 1
    assert "jobs.x.slow_run.factor: must be between 1 and 100, not 0" in err


# --------------------------------------------------------------------------- the views, without AWS


def test_a_table_pads_each_column_to_its_widest_cell_and_ends_lines_without_blanks() -> None:
    assert views.table(("A", "BB"), [("xxx", "y"), ("z", "")]) == "A    BB\nxxx  y\nz\n"


def job(**spec: Any) -> Any:
    config = parse_config({"jobs": {"j": {"match": {"family": "j"}, **spec}}}, "test.yaml")
    return config.jobs[0]


def a_run(start: datetime, *, outcome: str | None = "succeeded", seconds: float = 600.0) -> RunRecord:
    return RunRecord(
        job="j",
        run_id=f"{ARN}{int(start.timestamp()):032x}",
        cluster="batch",
        region="eu-west-1",
        started_at=start,
        outcome=outcome,
        durations={"run": seconds},
    )


def test_a_running_newest_run_is_shown_as_running_with_its_time_so_far() -> None:
    running = replace(a_run(NOW - timedelta(minutes=12), outcome=None), durations={})
    failed_before = a_run(NOW - timedelta(days=1), outcome="failed")

    row = views.status_row(job(), [running, failed_before], NOW)

    assert (row.last_outcome, row.last_run_time) == ("running", 720.0)
    assert row.alerts == ()
    (cells,) = views.status_rows([row])
    assert cells[2:4] == ("running", "12m00s so far")


def test_a_scheduled_job_with_no_runs_shows_no_missed_run_of_its_own() -> None:
    daily = job(schedule="cron(0 2 * * ? *)")

    row = views.status_row(daily, [], NOW)

    assert row.alerts == ()
    (cells,) = views.status_rows([row])
    assert cells[1:3] == ("no runs recorded yet", "-")
    assert cells[-2] == "2025-03-06 02:00:00"


def test_the_watchdogs_open_alerts_are_read_from_its_state() -> None:
    watches = {
        "nightly": ScheduleWatch(
            job="nightly", watched_since=NOW, missed=datetime(2025, 3, 5, 2, tzinfo=UTC)
        ),
        "hourly": ScheduleWatch(job="hourly", watched_since=NOW),
    }

    assert watchdog_alerts.open_alerts(watches) == {
        "nightly": ("missed run expected 2025-03-05 02:00:00 UTC",),
    }


def test_one_run_is_one_run() -> None:
    (only,) = earlier_successes("j", [600.0])

    assert views.runs_text("j", [only], since=NOW).startswith("j: 1 run since ")
    assert views.runs_text("j", [only], since=NOW, failed_only=True).startswith("j: 1 failed run since ")
    assert views.runs_text("j", [only, only], since=NOW).startswith("j: 2 runs since ")


def test_status_shows_an_overrunning_run_by_its_time_and_no_alert_of_its_own() -> None:
    row = views.status_row(job(max_run_time="1h"), [a_run(NOW - timedelta(hours=2), outcome=None)], NOW)

    assert (row.last_outcome, row.last_run_time, row.running) == ("running", 7200.0, True)
    assert row.alerts == ()


def test_status_shows_the_watchdogs_missed_run_and_computes_none_from_the_schedule() -> None:
    daily = job(schedule="cron(0 2 * * ? *)")
    two_days_ago = [a_run(NOW - timedelta(days=2))]

    quiet = views.status_row(daily, two_days_ago, NOW)
    raised = views.status_row(
        daily, two_days_ago, NOW, open_alerts=["missed run expected 2025-03-04 02:00:00 UTC"]
    )

    assert quiet.alerts == ()
    assert raised.alerts == ("missed run expected 2025-03-04 02:00:00 UTC",)
    assert quiet.next_run == raised.next_run == datetime(2025, 3, 6, 2, 0, tzinfo=UTC)


def test_a_slow_last_run_shows_in_its_duration_against_the_median_not_as_an_alert() -> None:
    runs = [a_run(NOW - timedelta(hours=1), seconds=2000.0)] + [
        a_run(NOW - timedelta(days=d), seconds=600.0) for d in range(1, 6)
    ]

    row = views.status_row(job(), runs, NOW)

    assert (row.last_run_time, row.usual.median) == (2000.0, 600.0)
    assert row.alerts == ()


def test_a_rate_schedule_expects_the_next_run_one_period_after_the_last() -> None:
    hourly = job(schedule="rate(1 hour)")

    row = views.status_row(hourly, [a_run(NOW - timedelta(minutes=20))], NOW)

    assert row.next_run == NOW + timedelta(minutes=40)
    assert row.alerts == ()


def test_a_cron_schedule_expects_its_next_time_whenever_the_last_run_started() -> None:
    daily = job(schedule="cron(30 5 * * ? *)")
    late_retry = a_run(NOW + timedelta(days=300))  # a run stamped in the future (a skewed clock)

    row = views.status_row(daily, [late_retry], NOW)

    assert row.next_run == datetime(2025, 3, 6, 5, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- nothing secret is printed

_TOKEN = "ghp" + "_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_runs_json_hides_a_secret_in_a_cause_recorded_before_causes_were_redacted(
    history: DynamoRunHistory, cli: Cli
) -> None:
    # given a record written by an older ecswatch, whose cause holds what a task put in its reason
    [old] = earlier_successes("nightly-report", [60.0])
    history.record(
        replace(
            old,
            outcome="failed_to_start",
            cause=f"image pull failed: https://robot:{_TOKEN}@registry.example.com",
        )
    )

    code, out, _ = cli("runs", "nightly-report", "--since", "2025-03-02", "--json")

    assert code == 0
    assert _TOKEN not in out
    assert "https://robot:[REDACTED]@registry.example.com" in out


def test_a_refused_retry_hides_a_secret_in_ecs_reason(launcher: str, cli: Cli) -> None:
    launcher_answers({"result": "refused", "task_arn": None, "failure": "CannotPull: password=hunter2"})

    code, _, err = cli("retry", f"{ARN}{INVOICE_FAILED}", "--function", launcher, table=False)

    assert code == 1
    assert (
        err == f"ecswatch: error: retry of {ARN}{INVOICE_FAILED} refused: CannotPull: password=[REDACTED]\n"
    )


def test_logs_hide_the_body_of_a_key_whose_begin_line_is_before_the_tail(
    aws: Any, history: DynamoRunHistory, cli: Cli
) -> None:
    # given a log whose last lines are the end of a private key and what followed it
    body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
    run = history.run(INVOICE_FAILED)
    assert run is not None
    assert run.log_group
    assert run.log_stream
    logs = boto3.client("logs", region_name="eu-west-1")
    logs.create_log_group(logGroupName=run.log_group)
    logs.create_log_stream(logGroupName=run.log_group, logStreamName=run.log_stream)
    lines = ["-----BEGIN RSA PRIVATE KEY-----", body, body, "-----END RSA PRIVATE KEY-----", "loaded"]
    logs.put_log_events(
        logGroupName=run.log_group,
        logStreamName=run.log_stream,
        # CloudWatch Logs (and moto) reject events older than 14 days: written as recent.
        logEvents=[
            {"timestamp": int(time.time() * 1000) + i, "message": line} for i, line in enumerate(lines)
        ],
    )

    _, out, _ = cli("logs", INVOICE_FAILED, "--tail", "3")

    assert lines_of(out) == ["[REDACTED]", "-----END RSA PRIVATE KEY-----", "loaded"]
