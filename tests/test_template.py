"""The SAM template wires what the code assumes: events in, failures out, secrets by name only.

Most tests read the template as written. The ones about scoping (which cluster ARNs the rule
filters on, which secrets IAM lets the function read) resolve the intrinsic functions for given
parameter values with a small evaluator below, so they check the outcome CloudFormation would
produce rather than the spelling of the template.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from common.analysis import Outcome
from common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
SECRET_NAME_PARAMETERS = ("DatadogApiKeyParameter", "SlackTokenParameter", "SlackWebhookParameter")


def _plain(node: Any) -> Any:
    """cfn-lint's nodes carry line marks; tests compare plain dicts, lists and strings."""
    return json.loads(json.dumps(node))


def _load_template() -> dict[str, Any]:
    template, matches = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not matches, [str(m) for m in matches]
    return _plain(template)


TEMPLATE = _load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]


def props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id]["Properties"]


# --------------------------------------------------------------------------- a tiny evaluator
# Resolves Ref/Sub/Join/Split/Select/If/Equals/Not/Or/Condition for parameter values, drops
# AWS::NoValue the way CloudFormation does, and leaves GetAtt and resource Refs as they are.

NO_VALUE = object()


class Stack:
    def __init__(self, **overrides: str) -> None:
        self.params: dict[str, Any] = {}
        for name, spec in PARAMETERS.items():
            raw = str(overrides.get(name, spec.get("Default", "")))
            self.params[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def condition(self, name: str) -> bool:
        return bool(self.resolve(TEMPLATE["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        return self.params.get(name, {"Ref": name})

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if name in self.params or name in PSEUDO:
                return str(self._ref(name))
            return f"<{name}>"  # a resource or attribute, known only once deployed

        return re.sub(r"\$\{([^}!]+)\}", lookup, text)

    def _if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)


_FUNCTIONS: dict[str, Callable[[Stack, Any], Any]] = {
    "Ref": lambda s, a: s._ref(a),
    "Fn::Sub": lambda s, a: s._sub(a),
    "Fn::Join": lambda s, a: a[0].join(s.resolve(a[1])),
    "Fn::Split": lambda s, a: s.resolve(a[1]).split(a[0]),
    "Fn::Select": lambda s, a: s.resolve(a[1])[int(a[0])],
    "Fn::If": lambda s, a: s._if(a),
    "Fn::Equals": lambda s, a: s.resolve(a[0]) == s.resolve(a[1]),
    "Fn::Not": lambda s, a: not s.resolve(a[0]),
    "Fn::Or": lambda s, a: any(s.resolve(c) for c in a),
    "Condition": lambda s, a: s.condition(a),
}


def function_statements(stack: Stack) -> list[dict[str, Any]]:
    """Every IAM statement of the function's inline policies, as deployed for this stack."""
    documents = [p for p in props("TaskEventsFunction")["Policies"] if "Statement" in p]
    return [statement for doc in documents for statement in stack.resolve(doc["Statement"])]


def statement_with(stack: Stack, action: str) -> dict[str, Any] | None:
    found = [s for s in function_statements(stack) if action in _as_list(s["Action"])]
    assert len(found) <= 1, found
    return found[0] if found else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_strings(value)


# --------------------------------------------------------------------------- shape


def test_template_is_a_sam_template_with_the_agreed_function_globals() -> None:
    assert TEMPLATE["Transform"] == "AWS::Serverless-2016-10-31"
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Architectures"] == ["arm64"]
    assert (function_globals["MemorySize"], function_globals["Timeout"]) == (512, 60)
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "ecswatch",
        "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_outputs_name_the_queues_table_function_and_dashboard() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["TaskEventsQueueUrl"]["Value"] == {"Ref": "TaskEventsQueue"}
    assert outputs["TaskEventsQueueArn"]["Value"] == {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]}
    assert outputs["TaskEventsDLQUrl"]["Value"] == {"Ref": "TaskEventsDLQ"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert outputs["TaskEventsFunctionArn"]["Value"] == {"Fn::GetAtt": ["TaskEventsFunction", "Arn"]}
    assert outputs["DashboardName"]["Value"] == {"Ref": "Dashboard"}


# --------------------------------------------------------------------------- EventBridge rule


def test_rule_matches_ecs_task_state_changes_that_are_running_or_stopped() -> None:
    pattern = Stack().resolve(props("TaskStateChangeRule")["EventPattern"])

    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert sorted(pattern["detail"]["lastStatus"]) == ["RUNNING", "STOPPED"]


def test_rule_watches_every_cluster_when_no_cluster_arns_are_given() -> None:
    pattern = Stack(WatchedClusterArns="").resolve(props("TaskStateChangeRule")["EventPattern"])

    assert "clusterArn" not in pattern["detail"]


def test_rule_filters_on_the_given_cluster_arns() -> None:
    arns = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch", f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/etl"]

    pattern = Stack(WatchedClusterArns=",".join(arns)).resolve(props("TaskStateChangeRule")["EventPattern"])

    assert pattern["detail"]["clusterArn"] == arns
    assert sorted(pattern["detail"]["lastStatus"]) == ["RUNNING", "STOPPED"]


def test_rule_delivers_to_the_queue_with_retries_and_a_dead_letter_queue() -> None:
    (target,) = props("TaskStateChangeRule")["Targets"]

    assert target["Arn"] == {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["TaskEventsDLQ", "Arn"]}


# --------------------------------------------------------------------------- queues


def test_queue_sends_a_message_to_the_dlq_after_five_failed_receives() -> None:
    redrive = props("TaskEventsQueue")["RedrivePolicy"]

    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": ["TaskEventsDLQ", "Arn"]}, "maxReceiveCount": 5}


def test_queue_visibility_timeout_is_six_times_the_function_timeout() -> None:
    timeout = props("TaskEventsFunction").get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])

    assert props("TaskEventsQueue")["VisibilityTimeout"] == 6 * timeout


@pytest.mark.parametrize("queue", ["TaskEventsQueue", "TaskEventsDLQ"])
def test_queue_is_encrypted_at_rest(queue: str) -> None:
    assert props(queue)["SqsManagedSseEnabled"] is True


def test_dlq_keeps_messages_14_days_longer_than_the_queue_keeps_them() -> None:
    dlq_retention = props("TaskEventsDLQ")["MessageRetentionPeriod"]

    assert dlq_retention == 14 * 24 * 3600
    assert dlq_retention > props("TaskEventsQueue").get("MessageRetentionPeriod", 4 * 24 * 3600)


def test_only_the_rule_may_send_to_the_queues() -> None:
    policy = props("TaskEventsQueuePolicy")
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]

    assert policy["Queues"] == [{"Ref": "TaskEventsQueue"}, {"Ref": "TaskEventsDLQ"}]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["TaskStateChangeRule", "Arn"]}}
    }


# --------------------------------------------------------------------------- function


def test_function_reads_the_queue_in_batches_and_reports_item_failures() -> None:
    function = props("TaskEventsFunction")
    (event,) = function["Events"].values()

    assert (function["CodeUri"], function["Handler"]) == ("src/", "handlers.task_events.lambda_handler")
    assert event["Type"] == "SQS"
    assert event["Properties"] == {
        "Queue": {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]},
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 5,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def test_function_logs_to_its_own_log_group_kept_30_days() -> None:
    logging_config = props("TaskEventsFunction")["LoggingConfig"]

    assert logging_config["LogGroup"] == {"Ref": "TaskEventsFunctionLogGroup"}
    assert props("TaskEventsFunctionLogGroup")["RetentionInDays"] == 30


def test_function_environment_sets_every_agreed_variable() -> None:
    variables = props("TaskEventsFunction")["Environment"]["Variables"]

    assert set(variables) == {
        "WATCH_CLUSTERS",
        "INCLUDE_SERVICE_TASKS",
        "LOG_TAIL_LINES",
        "STATE_TABLE_NAME",
        "DATADOG_SITE",
        "DATADOG_API_KEY_PARAMETER",
        "SLACK_TOKEN_PARAMETER",
        "SLACK_WEBHOOK_PARAMETER",
        "SLACK_DEFAULT_CHANNEL",
        "STORM_WINDOW_SECONDS",
    }
    assert variables["STATE_TABLE_NAME"] == {"Ref": "StateTable"}


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        (
            {"WatchedClusterArns": "arn:aws:ecs:eu-west-1:1:cluster/a,arn:aws:ecs:eu-west-1:1:cluster/b"},
            "watch_clusters",
            frozenset({"arn:aws:ecs:eu-west-1:1:cluster/a", "arn:aws:ecs:eu-west-1:1:cluster/b"}),
        ),
        ({"IncludeServiceTasks": "true"}, "include_service_tasks", True),
        ({"LogTailLines": "7"}, "log_tail_lines", 7),
        ({"DatadogSite": "datadoghq.eu"}, "datadog_site", "datadoghq.eu"),
        ({"DatadogApiKeyParameter": "ssm:/ecswatch/dd"}, "datadog_api_key_parameter", "ssm:/ecswatch/dd"),
        ({"SlackTokenParameter": "secretsmanager:slack"}, "slack_token_parameter", "secretsmanager:slack"),
        ({"SlackWebhookParameter": "ssm:/ecswatch/hook"}, "slack_webhook_parameter", "ssm:/ecswatch/hook"),
        ({"SlackDefaultChannel": "#etl"}, "slack_default_channel", "#etl"),
        ({"StormWindowSeconds": "60"}, "storm_window_seconds", 60),
    ],
)
def test_stack_parameter_reaches_the_settings_field(
    overrides: Mapping[str, str], field: str, expected: object
) -> None:
    """The template's variable names are the ones Settings.from_env reads, value for value."""
    environment = Stack(**overrides).resolve(props("TaskEventsFunction")["Environment"]["Variables"])
    environment["STATE_TABLE_NAME"] = "ecswatch-StateTable-ABC"  # a resource Ref, resolved at deploy

    assert getattr(Settings.from_env(environment), field) == expected


def test_stack_defaults_give_the_settings_defaults() -> None:
    environment = Stack().resolve(props("TaskEventsFunction")["Environment"]["Variables"])
    environment["STATE_TABLE_NAME"] = ""

    assert Settings.from_env(environment) == Settings()


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("name", SECRET_NAME_PARAMETERS)
def test_secret_parameter_accepts_only_a_secret_name(name: str) -> None:
    """CloudFormation matches AllowedPattern against the whole value, like re.fullmatch."""
    pattern = PARAMETERS[name]["AllowedPattern"]

    for accepted in ("", "ssm:/ecswatch/secret", "secretsmanager:ecswatch/secret"):
        assert re.fullmatch(pattern, accepted), accepted
    for rejected in (
        "xoxb-1234567890-abcdefghijkl",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "0123456789abcdef0123456789abcdef",
        "ssm:relative/name",
    ):
        assert not re.fullmatch(pattern, rejected), rejected


def test_no_parameter_default_looks_like_a_secret() -> None:
    secret_like = re.compile(r"xox[abpr]-|hooks\.slack\.com|^[0-9a-f]{32}$|^https?://", re.IGNORECASE)

    defaults = [str(spec.get("Default", "")) for spec in PARAMETERS.values()]

    assert [d for d in defaults if secret_like.search(d)] == []


def test_no_secret_parameter_has_a_default_value() -> None:
    assert {name: PARAMETERS[name]["Default"] for name in SECRET_NAME_PARAMETERS} == dict.fromkeys(
        SECRET_NAME_PARAMETERS, ""
    )


def test_without_secret_names_the_function_may_read_no_secret() -> None:
    stack = Stack()

    assert statement_with(stack, "ssm:GetParameter") is None
    assert statement_with(stack, "secretsmanager:GetSecretValue") is None
    assert statement_with(stack, "kms:Decrypt") is None


def test_an_ssm_name_grants_reading_exactly_that_parameter() -> None:
    stack = Stack(DatadogApiKeyParameter="ssm:/ecswatch/datadog-api-key")

    statement = statement_with(stack, "ssm:GetParameter")

    assert statement is not None
    assert statement["Resource"] == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ecswatch/datadog-api-key"]
    assert statement_with(stack, "secretsmanager:GetSecretValue") is None


def test_a_secrets_manager_name_grants_reading_exactly_that_secret() -> None:
    stack = Stack(SlackTokenParameter="secretsmanager:ecswatch/slack-bot-token")

    statement = statement_with(stack, "secretsmanager:GetSecretValue")

    assert statement is not None
    assert statement["Resource"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecswatch/slack-bot-token-??????"
    ]
    assert statement_with(stack, "ssm:GetParameter") is None


def test_each_secret_name_adds_its_own_resource_and_nothing_wider() -> None:
    stack = Stack(
        DatadogApiKeyParameter="ssm:/ecswatch/dd",
        SlackTokenParameter="ssm:/ecswatch/slack-token",
        SlackWebhookParameter="secretsmanager:ecswatch/webhook",
    )

    ssm = statement_with(stack, "ssm:GetParameter")
    secrets = statement_with(stack, "secretsmanager:GetSecretValue")

    assert ssm is not None
    assert secrets is not None
    assert ssm["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ecswatch/dd",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ecswatch/slack-token",
    ]
    assert secrets["Resource"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecswatch/webhook-??????"
    ]


def test_kms_decrypt_works_only_through_the_store_that_holds_a_secret() -> None:
    stack = Stack(SlackWebhookParameter="ssm:/ecswatch/webhook")

    statement = statement_with(stack, "kms:Decrypt")

    assert statement is not None
    assert statement["Resource"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": [f"ssm.{REGION}.amazonaws.com"]}}


# --------------------------------------------------------------------------- other IAM


def test_describe_task_definition_is_the_only_action_on_every_resource() -> None:
    stack = Stack(DatadogApiKeyParameter="ssm:/a", SlackTokenParameter="secretsmanager:b")

    wildcard = [s for s in function_statements(stack) if s["Resource"] == "*"]

    assert [s["Action"] for s in wildcard] == ["ecs:DescribeTaskDefinition"]


def test_log_tails_are_read_from_log_streams_of_this_account_only() -> None:
    statement = statement_with(Stack(), "logs:GetLogEvents")

    assert statement is not None
    assert statement["Action"] == "logs:GetLogEvents"
    assert statement["Resource"] == f"arn:aws:logs:*:{ACCOUNT}:log-group:*:log-stream:*"


def test_function_may_read_and_write_the_state_table_only() -> None:
    policies = props("TaskEventsFunction")["Policies"]

    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "StateTable"}}} in policies
    assert not any("dynamodb" in s for p in policies if "Statement" in p for s in all_strings(p))


# --------------------------------------------------------------------------- state table


def test_state_table_has_pk_sk_keys_and_a_gsi_for_runs_of_a_job_over_time() -> None:
    table = props("StateTable")

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"}


def test_state_table_expires_items_is_recoverable_and_encrypted() -> None:
    table = props("StateTable")

    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


# --------------------------------------------------------------------------- alarms and dashboard

ALARMS = {
    "DeadLetterQueueNotEmptyAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "TaskEventsDLQ", 0),
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors", "TaskEventsFunction", 0),
    "QueueBacklogTooOldAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "TaskEventsQueue", 900),
}


@pytest.mark.parametrize(("alarm", "expected"), ALARMS.items())
def test_alarm_fires_above_its_threshold_on_its_resource(alarm: str, expected: tuple[Any, ...]) -> None:
    namespace, metric, resource, threshold = expected
    alarm_props = props(alarm)
    (dimension,) = alarm_props["Dimensions"]

    assert (alarm_props["Namespace"], alarm_props["MetricName"]) == (namespace, metric)
    assert resource in json.dumps(dimension["Value"])
    assert alarm_props["Threshold"] == threshold
    assert alarm_props["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm_props["Period"] * alarm_props["EvaluationPeriods"] <= 300


@pytest.mark.parametrize("alarm", ALARMS)
def test_alarm_notifies_the_email_topic_only_when_an_email_is_given(alarm: str) -> None:
    actions = props(alarm)["AlarmActions"]

    assert Stack(AlarmEmail="oncall@example.com").resolve(actions) == [{"Ref": "AlarmTopic"}]
    assert Stack(AlarmEmail="").resolve(actions) is NO_VALUE


def test_alarm_topic_exists_only_when_an_email_is_given() -> None:
    topic = RESOURCES["AlarmTopic"]

    assert topic["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    assert Stack(AlarmEmail="oncall@example.com").condition("HasAlarmEmail")
    assert not Stack(AlarmEmail="").condition("HasAlarmEmail")


def _dashboard_metrics() -> list[list[Any]]:
    body = Stack().resolve(props("Dashboard")["DashboardBody"])
    widgets = json.loads(body)["widgets"]
    return [metric for w in widgets for metric in w["properties"].get("metrics", [])]


def test_dashboard_is_drawn_in_the_stack_region() -> None:
    widgets = json.loads(Stack().resolve(props("Dashboard")["DashboardBody"]))["widgets"]

    assert {w["properties"]["region"] for w in widgets} == {REGION}


@pytest.mark.parametrize("metric", ["RunDuration", "StartLatency", "ImagePullTime"])
def test_dashboard_shows_average_and_p95_of_emf_metric(metric: str) -> None:
    stats = {m[-1]["stat"] for m in _dashboard_metrics() if m[:2] == ["ecswatch", metric]}

    assert stats == {"Average", "p95"}


def test_dashboard_selects_emf_metrics_by_the_functions_namespace_and_service() -> None:
    """Powertools adds service=<POWERTOOLS_SERVICE_NAME> to every EMF metric; CloudWatch matches exactly."""
    powertools = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    namespace = powertools["POWERTOOLS_METRICS_NAMESPACE"]

    emf = [m for m in _dashboard_metrics() if m[0] == namespace]

    assert emf
    assert all(m[m.index("service") + 1] == powertools["POWERTOOLS_SERVICE_NAME"] for m in emf)


def test_dashboard_shows_runs_for_every_outcome() -> None:
    outcomes = {m[m.index("outcome") + 1] for m in _dashboard_metrics() if m[:2] == ["ecswatch", "Runs"]}

    assert outcomes == {outcome.value for outcome in Outcome}


def test_dashboard_shows_function_health_and_queue_depths() -> None:
    metrics = _dashboard_metrics()
    function_metrics = {m[1] for m in metrics if m[:1] == ["AWS/Lambda"] and m[3] == "<TaskEventsFunction>"}
    depth_of = {m[3] for m in metrics if m[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}

    assert {"Invocations", "Errors", "Duration"} <= function_metrics
    assert depth_of == {"<TaskEventsQueue.QueueName>", "<TaskEventsDLQ.QueueName>"}


# --------------------------------------------------------------------------- samconfig and local run


def test_samconfig_overrides_exactly_the_template_parameters() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config["default"]["deploy"]["parameters"]

    overridden = {item.split("=", 1)[0] for item in deploy["parameter_overrides"]}

    assert overridden == set(PARAMETERS)
    assert config["default"]["global"]["parameters"]["stack_name"] == "ecswatch"
    assert deploy["capabilities"] == "CAPABILITY_IAM"


def test_local_env_file_sets_only_variables_the_function_declares() -> None:
    """sam local invoke silently ignores variables the template does not declare for the function."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    env_file = ROOT / config["default"]["local_invoke"]["parameters"]["env_vars"]
    declared = set(props("TaskEventsFunction")["Environment"]["Variables"]) | set(
        TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    )

    local = json.loads(env_file.read_text(encoding="utf-8"))["TaskEventsFunction"]

    assert set(local) <= declared
    assert local["STATE_TABLE_NAME"] == ""
    assert Settings.from_env(local).log_tail_lines == 30
