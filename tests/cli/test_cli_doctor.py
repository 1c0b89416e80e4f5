"""`ecswatch doctor` on a healthy stack, and on a stack with each part broken in turn.

The stack is a CloudFormation stack in moto with the resources doctor reads, under the logical ids
template.yaml gives them; the secrets are the offline stack's (local/stack.py); Slack and Datadog are
the local endpoints (local/fake_slack.py, local/fake_datadog.py), named by the functions' environment
as the offline stack names them. What moto does not do, said where it is worked around:

* CloudFormation ignores a table's TimeToLiveSpecification: the fixture enables TTL with the API.
* A new trail has no event selectors in moto (AWS gives it the default: all management events): the
  fixture puts AWS's default.
* iam:SimulatePrincipalPolicy is not implemented (NotImplementedError): the launcher checks run with
  an IAM client stubbed by botocore's Stubber, answering in the API's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ecswatch.cli import doctor
from ecswatch.cli.checks import Check
from ecswatch.cli.main import main
from ecswatch.config.loader import load_config
from local.aws import FAKE_CREDENTIALS
from local.fake_datadog import FakeDatadog
from local.fake_slack import FakeSlack
from local.stack import DATADOG_KEY, DATADOG_KEY_PARAMETER, SLACK_TOKEN, SLACK_TOKEN_PARAMETER, store_secrets

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK = "ecswatch"
NOW = datetime.now(UTC).replace(microsecond=0)
TASKDEF = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"

CONFIG = """\
defaults:
  slack_channel: "#batch-alerts"
jobs:
  nightly-report:
    match: {family: nightly-report, cluster: batch, started_by: "events-rule/nightly-report-*"}
    slack_channel: "#reports"
    schedule: "cron(0 2 * * ? *)"
"""

Cli = Callable[..., tuple[int, str, str]]


def template(slack_url: str, datadog_url: str) -> dict[str, Any]:
    env = {
        "SLACK_TOKEN_PARAMETER": SLACK_TOKEN_PARAMETER,
        "DATADOG_API_KEY_PARAMETER": DATADOG_KEY_PARAMETER,
        "DATADOG_SITE": "datadoghq.eu",
        "SLACK_DEFAULT_CHANNEL": "#batch-alerts",
        "SLACK_API_URL": slack_url + "/api/",
        "DATADOG_API_URL": datadog_url,
        "STATE_TABLE_NAME": {"Ref": "StateTable"},
    }
    assume = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }

    def function(role: str) -> dict[str, Any]:
        return {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": [role, "Arn"]},
                "Code": {"ZipFile": "def handler(event, context): pass"},
                "Environment": {"Variables": env},
            },
        }

    def rule(**properties: Any) -> dict[str, Any]:
        target = {"Id": "queue", "Arn": {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]}}
        return {
            "Type": "AWS::Events::Rule",
            "Properties": {"State": "ENABLED", "Targets": [target], **properties},
        }

    return {
        "Resources": {
            "FunctionRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": assume}},
            "LauncherRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": assume}},
            "TaskEventsQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "TaskEventsDLQ": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "RetryQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "RetryDLQ": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "TaskStateChangeRule": rule(
                EventPattern={"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}
            ),
            "FailedLaunchRule": rule(
                EventPattern={"source": ["aws.ecs"], "detail-type": ["AWS API Call via CloudTrail"]}
            ),
            "WatchdogFunctionEveryFiveMinutes": rule(ScheduleExpression="rate(5 minutes)"),
            "StateTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                },
            },
            "TaskEventsFunction": function("FunctionRole"),
            "RetryLauncherFunction": function("LauncherRole"),
            "WatchdogFunction": function("FunctionRole"),
        }
    }


@dataclass
class Deployed:
    slack: FakeSlack
    datadog: FakeDatadog
    resources: dict[str, str]
    config: Path

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def metric(namespace: str, name: str, dimension: str, value: str, amount: float, *, at: datetime) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": dimension, "Value": value}],
                "Timestamp": at,
                "Value": amount,
            }
        ],
    )


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployed]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ECSWATCH_STACK", "ECSWATCH_TABLE", "ECSWATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    slack = FakeSlack(valid_tokens={SLACK_TOKEN}, channels={"batch-alerts": True, "reports": True})
    datadog = FakeDatadog(api_keys={DATADOG_KEY})
    config = tmp_path / "jobs.yaml"
    config.write_text(CONFIG)
    with mock_aws(), slack.running(), datadog.running():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template(slack.url, datadog.url)),
            Capabilities=["CAPABILITY_IAM"],
        )
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
        }
        # moto's CloudFormation ignores TimeToLiveSpecification; template.yaml sets it on expires_at.
        boto3.client("dynamodb", region_name=REGION).update_time_to_live(
            TableName=resources["StateTable"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        store_secrets()
        _trail()
        for function in ("TaskEventsFunction", "RetryLauncherFunction", "WatchdogFunction"):
            metric(
                "AWS/Lambda",
                "Invocations",
                "FunctionName",
                resources[function],
                4,
                at=NOW - timedelta(minutes=4),
            )
            metric(
                "AWS/Lambda", "Errors", "FunctionName", resources[function], 0, at=NOW - timedelta(minutes=4)
            )
        queue = resources["TaskEventsQueue"].rsplit("/", 1)[-1]
        metric(
            "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, 3, at=NOW - timedelta(minutes=4)
        )
        _nightly_rule("cron(0 2 * * ? *)")
        yield Deployed(slack, datadog, resources, config)


def _trail(*, logging: bool = True) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="org-trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    cloudtrail = boto3.client("cloudtrail", region_name=REGION)
    cloudtrail.create_trail(Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True)
    # AWS gives a new trail this selector; moto gives it none.
    cloudtrail.put_event_selectors(
        TrailName="org-trail", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    if logging:
        cloudtrail.start_logging(Name="org-trail")


def _nightly_rule(expression: str) -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="nightly-report-daily", ScheduleExpression=expression, State="ENABLED")
    target = {
        "Id": "ecs",
        "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecs-events",
        "EcsParameters": {"TaskDefinitionArn": TASKDEF + "nightly-report:3"},
    }
    events.put_targets(Rule="nightly-report-daily", Targets=[target])


@pytest.fixture
def cli(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> Cli:
    def call(*argv: str) -> tuple[int, str, str]:
        code = main(
            ["doctor", "--region", REGION, "--stack", STACK, "--config", str(deployed.config), *argv], now=NOW
        )
        out, err = capsys.readouterr()
        return code, out, err

    return call


def failed(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("✘")]


# --------------------------------------------------------------------------- healthy


def test_a_healthy_stack_passes_every_check_and_exits_0(cli: Cli) -> None:
    code, out, err = cli()

    assert (code, err) == (0, "")
    assert failed(out) == []
    names = [line.split(":", 1)[0] for line in out.splitlines()[:-1]]
    assert names == [
        "✔ rule FailedLaunchRule",
        "✔ rule TaskStateChangeRule",
        "✔ rule WatchdogFunctionEveryFiveMinutes",
        "✔ queue RetryDLQ",
        "✔ queue RetryQueue",
        "✔ queue TaskEventsDLQ",
        "✔ queue TaskEventsQueue",
        "✔ function RetryLauncherFunction",
        "✔ function TaskEventsFunction",
        "✔ function WatchdogFunction",
        "✔ table StateTable",
        "✔ Slack token",
        "✔ Slack #batch-alerts",
        "✔ Slack #reports",
        "✔ Datadog API key",
        "✔ CloudTrail",
        "✔ launcher",
        "✔ schedules",
    ]
    assert out.splitlines()[-1] == f"(stack {STACK}: 18 checks, all passed)"
    assert "✔ Slack token: bot @U0ECSWATCH in T0ECSWATCH" in out
    assert "✔ Datadog API key: valid on datadoghq.eu" in out
    assert "✔ CloudTrail: trail org-trail records management events in eu-west-1" in out


def test_json_says_ok_and_lists_every_check(cli: Cli) -> None:
    code, out, _ = cli("--json")

    report = json.loads(out)
    assert (code, report["ok"], report["stack"]) == (0, True, STACK)
    assert len(report["checks"]) == 18


def test_the_stack_name_defaults_to_samconfig_tomls(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('version = 0.1\n[default.global.parameters]\nstack_name = "batch-watch"\n')

    assert doctor.default_stack({}, samconfig) == "batch-watch"
    assert doctor.default_stack({"ECSWATCH_STACK": "other"}, samconfig) == "other"


def test_a_stack_that_does_not_exist_is_one_line(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor", "--region", REGION, "--stack", "nope", "--config", str(deployed.config)], now=NOW)

    assert code == 1
    assert capsys.readouterr().err == (
        "ecswatch: error: CloudFormation stack 'nope' not found in this region (--stack, --region)\n"
    )


# --------------------------------------------------------------------------- each part broken


def test_a_disabled_rule_is_named_with_the_command_that_enables_it(deployed: Deployed, cli: Cli) -> None:
    rule = deployed.resources["TaskStateChangeRule"]
    deployed.client("events").disable_rule(Name=rule)

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        f"✘ rule TaskStateChangeRule: {rule} is DISABLED -> aws events enable-rule --name {rule}"
    ]
    assert out.splitlines()[-1] == f"(stack {STACK}: 18 checks, 1 failed)"


def test_dead_lettered_messages_are_counted_with_how_to_redrive_them(deployed: Deployed, cli: Cli) -> None:
    url = deployed.resources["TaskEventsDLQ"]
    for _ in range(2):
        deployed.client("sqs").send_message(QueueUrl=url, MessageBody="{}")

    code, out, _ = cli()

    assert code == 1
    [line] = failed(out)
    assert line.startswith(f"✘ queue TaskEventsDLQ: 2 dead-lettered messages in {url.rsplit('/', 1)[-1]}")
    assert "aws sqs start-message-move-task --source-arn arn:aws:sqs:eu-west-1:123456789012:" in line


def test_an_old_message_in_the_queue_means_late_alerts(deployed: Deployed, cli: Cli) -> None:
    queue = deployed.resources["TaskEventsQueue"].rsplit("/", 1)[-1]
    metric(
        "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, 3600, at=NOW - timedelta(minutes=2)
    )

    code, out, _ = cli()

    assert code == 1
    assert [line.split(" ->")[0] for line in failed(out)] == [
        "✘ queue TaskEventsQueue: 0 waiting, oldest 1h00m00s: alerts are late"
    ]


def test_function_errors_fail_with_where_to_read_them(deployed: Deployed, cli: Cli) -> None:
    function = deployed.resources["TaskEventsFunction"]
    metric("AWS/Lambda", "Errors", "FunctionName", function, 3, at=NOW - timedelta(minutes=2))

    code, out, _ = cli()

    assert code == 1
    [line] = failed(out)
    assert line.startswith("✘ function TaskEventsFunction: 4 invocations, 3 errors in 24h")
    assert line.endswith(
        f"-> read its errors: sam logs -n TaskEventsFunction --stack-name {STACK} --start-time '24 hours ago'"
    )


def test_a_watchdog_that_has_not_run_for_a_quarter_hour_fails(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    later = NOW + timedelta(minutes=30)
    code = main(["doctor", "--region", REGION, "--stack", STACK, "--config", str(deployed.config)], now=later)

    assert code == 1
    assert [line.split(":")[0] for line in failed(capsys.readouterr().out)] == ["✘ function WatchdogFunction"]


def test_a_table_without_ttl_fails_with_the_command_that_sets_it(deployed: Deployed, cli: Cli) -> None:
    table = deployed.resources["StateTable"]
    deployed.client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        f"✘ table StateTable: {table} has no TTL on expires_at: history is never deleted -> aws dynamodb "
        f"update-time-to-live --table-name {table} "
        "--time-to-live-specification Enabled=true,AttributeName=expires_at"
    ]


def test_a_revoked_slack_token_fails_auth_test(deployed: Deployed, cli: Cli) -> None:
    deployed.client("ssm").put_parameter(
        Name=SLACK_TOKEN_PARAMETER.removeprefix("ssm:"),
        Value="xoxb-revoked",
        Type="SecureString",
        Overwrite=True,
    )

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        "✘ Slack token: auth.test: invalid_auth -> "
        f"store a valid bot token (xoxb-...) in {SLACK_TOKEN_PARAMETER}: "
        "reinstall the app if it was revoked"
    ]


def test_a_missing_slack_secret_names_the_reference(deployed: Deployed, cli: Cli) -> None:
    deployed.client("ssm").delete_parameter(Name=SLACK_TOKEN_PARAMETER.removeprefix("ssm:"))

    code, out, _ = cli()

    assert code == 1
    [line] = failed(out)
    assert line.startswith(f"✘ Slack token: secret {SLACK_TOKEN_PARAMETER}: the parameter does not exist")


def test_a_channel_the_bot_is_not_in_fails_unless_the_token_may_post_in_public_channels(
    deployed: Deployed, cli: Cli
) -> None:
    deployed.slack.channels["reports"] = False

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        "✘ Slack #reports: the bot is not a member and the token lacks chat:write.public -> "
        "/invite @U0ECSWATCH in #reports, or add the chat:write.public scope"
    ]

    deployed.slack.scopes = "chat:write,chat:write.public,channels:read"

    code, out, _ = cli()

    assert code == 0
    assert "✔ Slack #reports: public, and the token has chat:write.public" in out


def test_a_channel_that_does_not_exist_fails(deployed: Deployed, cli: Cli) -> None:
    del deployed.slack.channels["reports"]

    code, out, _ = cli()

    assert code == 1
    assert [line.split(" ->")[0] for line in failed(out)] == [
        "✘ Slack #reports: no such channel (or a private one the bot is not in)"
    ]


def test_a_datadog_key_of_another_site_fails_validation(deployed: Deployed, cli: Cli) -> None:
    deployed.client("secretsmanager").put_secret_value(
        SecretId=DATADOG_KEY_PARAMETER.removeprefix("secretsmanager:"),
        SecretString=json.dumps({"api_key": "us1-key"}),
    )

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        f"✘ Datadog API key: the key in {DATADOG_KEY_PARAMETER} is refused on datadoghq.eu (HTTP 403) "
        "-> store an "
        f"API key of the datadoghq.eu organisation in {DATADOG_KEY_PARAMETER}, or set DatadogSite to its site"
    ]


def test_a_trail_that_is_not_logging_does_not_count(deployed: Deployed, cli: Cli) -> None:
    deployed.client("cloudtrail").stop_logging(Name="org-trail")

    code, out, _ = cli()

    assert code == 1
    [line] = failed(out)
    assert line.startswith("✘ CloudTrail: no logging trail records management events in eu-west-1")
    assert "aws cloudtrail create-trail --name ecswatch" in line


def test_a_schedule_that_drifted_from_jobs_yaml_fails(deployed: Deployed, cli: Cli) -> None:
    _nightly_rule("cron(0 3 * * ? *)")

    code, out, _ = cli()

    assert code == 1
    assert [line.split(" ->")[0] for line in failed(out)] == [
        "✘ schedule of nightly-report: jobs.yaml says cron(0 2 * * ? *), rule nightly-report-daily says "
        "cron(0 3 * * ? *) (UTC)"
    ]


def test_a_failed_read_fails_its_check_and_the_others_still_run(deployed: Deployed, cli: Cli) -> None:
    deployed.client("dynamodb").delete_table(TableName=deployed.resources["StateTable"])

    code, out, _ = cli()

    assert code == 1
    assert failed(out) == [
        "✘ table StateTable: cannot read: ResourceNotFoundException -> "
        "grant dynamodb:DescribeTimeToLive to the caller"
    ]
    assert len(out.splitlines()) == 19


# --------------------------------------------------------------------------- the launcher's permissions


RETRYING = """\
jobs:
  invoice-export:
    match: {family: invoice-export, cluster: batch}
    retry: {attempts: 3}
"""


def launcher_checks(
    deployed: Deployed, decisions: dict[tuple[str, str], str], config_text: str = RETRYING
) -> list[Check]:
    """The launcher checks with moto for everything but IAM, whose SimulatePrincipalPolicy answers
    ``decisions`` (action, resource) -> EvalDecision, in the API's response shape."""
    ecs = deployed.client("ecs")
    registered = ecs.register_task_definition(
        family="invoice-export",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/invoice-export-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecs-execution",
        containerDefinitions=[{"name": "export", "image": "invoice-export:1", "memory": 512}],
    )["taskDefinition"]
    role = deployed.client("lambda").get_function_configuration(
        FunctionName=deployed.resources["RetryLauncherFunction"]
    )["Role"]
    iam = boto3.client("iam", region_name=REGION)
    stub = Stubber(iam)
    for (action, resource), decision in decisions.items():
        stub.add_response(
            "simulate_principal_policy",
            {
                "EvaluationResults": [
                    {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision}
                ]
            },
            {"PolicySourceArn": role, "ActionNames": [action], "ResourceArns": [resource]},
        )
    ecs.register_task_definition(
        family="payroll", containerDefinitions=[{"name": "pay", "image": "payroll:1", "memory": 512}]
    )
    config = deployed.config
    config.write_text(config_text)
    assert registered["taskDefinitionArn"] == TASKDEF + "invoice-export:1"
    with stub:
        checker = doctor.Doctor(
            clients=lambda name: iam if name == "iam" else deployed.client(name),
            stack=STACK,
            region=REGION,
            jobs=load_config(config),
            now=NOW,
            tasks=list,
        )
        found = checker.launcher(
            doctor.Resource(
                "RetryLauncherFunction", "AWS::Lambda::Function", deployed.resources["RetryLauncherFunction"]
            )
        )
        stub.assert_no_pending_responses()
    return found


def test_the_launcher_may_run_the_task_definition_and_pass_its_roles(deployed: Deployed) -> None:
    checks = launcher_checks(
        deployed,
        {
            ("ecs:RunTask", TASKDEF + "invoice-export:1"): "allowed",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/invoice-export-task"): "allowed",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/ecs-execution"): "allowed",
        },
    )

    assert [c.line for c in checks] == [
        "✔ launcher for invoice-export: may run invoice-export:1 and pass its roles"
    ]


def test_a_denied_run_task_or_pass_role_names_the_parameter_to_set(deployed: Deployed) -> None:
    checks = launcher_checks(
        deployed,
        {
            ("ecs:RunTask", TASKDEF + "invoice-export:1"): "implicitDeny",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/invoice-export-task"): "allowed",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/ecs-execution"): "explicitDeny",
        },
    )

    assert [c.line for c in checks] == [
        f"✘ launcher for invoice-export: denied ecs:RunTask on {TASKDEF}invoice-export:1; iam:PassRole on "
        f"arn:aws:iam::{ACCOUNT}:role/ecs-execution -> "
        "add the family to RetryTaskDefinitionFamilies and the roles "
        "to RetryPassRoleArns (samconfig.toml parameter_overrides), then sam deploy"
    ]


@pytest.mark.parametrize(
    ("selectors", "records"),
    [
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly"}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, False),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
                ]
            },
            True,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]},
                        ]
                    }
                ]
            },
            False,
        ),
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, False),
    ],
)
def test_which_trails_record_the_runtask_calls_of_failed_launches(
    selectors: dict[str, Any], records: bool
) -> None:
    assert doctor.records_management_writes(selectors) is records


def test_a_glob_family_is_checked_for_each_active_family_it_matches(deployed: Deployed) -> None:
    checks = launcher_checks(
        deployed,
        {
            ("ecs:RunTask", TASKDEF + "invoice-export:1"): "allowed",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/invoice-export-task"): "allowed",
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/ecs-execution"): "allowed",
        },
        RETRYING.replace("family: invoice-export", 'family: "invoice-*"'),
    )

    [check] = checks
    assert check.line == "✔ launcher for invoice-export: may run invoice-export:1 and pass its roles"


def test_a_token_without_the_history_scopes_is_warned_about_but_passes(deployed: Deployed, cli: Cli) -> None:
    """Alerts still go out without channels:history / groups:history; only the lookup that keeps a
    post Slack stored after a timeout from being posted twice is off."""
    deployed.slack.scopes = "chat:write,channels:read"

    code, out, _ = cli()

    assert code == 0
    assert (
        "✔ Slack history scopes: warning: the token lacks channels:history, groups:history: "
        "an alert whose post timed out may be posted twice (no lookup)"
    ) in out.splitlines()
