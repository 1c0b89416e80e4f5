"""The SAM template wires what the code assumes: events in, failures out, secrets by name only,
retries launched only for the task definitions and roles the operator named.

Most tests read the template as written. The ones about scoping (which cluster ARNs the rule
filters on, which secrets IAM lets a function read, which task definitions the retry launcher may
run) resolve the intrinsic functions for given parameter values with a small evaluator below, so
they check the outcome CloudFormation would produce rather than the spelling of the template.
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

from ecswatch.config.settings import Settings
from ecswatch.events.task import MalformedEvent, parse_task_event
from ecswatch.run import Outcome

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
SECRET_NAME_PARAMETERS = ("DatadogApiKeyParameter", "SlackTokenParameter", "SlackWebhookParameter")
LAUNCHER = "RetryLauncherFunction"
FUNCTIONS = ("TaskEventsFunction", LAUNCHER)
ALL_SECRETS = {
    "DatadogApiKeyParameter": "ssm:/ecswatch/dd",
    "SlackTokenParameter": "secretsmanager:ecswatch/slack-token",
    "SlackWebhookParameter": "ssm:/ecswatch/webhook",
}


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
# Stack.resources() also expands Fn::ForEach loops (AWS::LanguageExtensions) and drops the
# resources whose condition is false.

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

    def resources(self) -> dict[str, Any]:
        """The resources this stack creates, by logical ID, as written (intrinsics unresolved)."""
        expanded: dict[str, Any] = {}
        for key, value in RESOURCES.items():
            if key.startswith("Fn::ForEach::"):
                identifier, collection, fragment = value
                for item in self.resolve(collection):
                    expanded.update(_for_each_item(fragment, identifier, item))
            else:
                expanded[key] = value
        return {
            key: resource
            for key, resource in expanded.items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }


def _for_each_item(node: Any, identifier: str, item: str) -> Any:
    """A loop's fragment for one item: ${Id} becomes the item, &{Id} its alphanumerics (logical
    IDs allow no others), and a Ref to the identifier the item itself."""
    if isinstance(node, str):
        alphanumeric = re.sub(r"[^A-Za-z0-9]", "", item)
        return node.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", alphanumeric)
    if isinstance(node, list):
        return [_for_each_item(value, identifier, item) for value in node]
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return item
        return {
            _for_each_item(key, identifier, item): _for_each_item(value, identifier, item)
            for key, value in node.items()
        }
    return node


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


def function_statements(stack: Stack, function: str = "TaskEventsFunction") -> list[dict[str, Any]]:
    """Every IAM statement the function's role holds in this stack: the inline documents of its
    Policies, the managed policies of this template it attaches, and the role policies naming
    its role. SAM policy templates (DynamoDBCrudPolicy) are checked as written, not here."""
    resources = stack.resources()
    documents = []
    for policy in stack.resolve(props(function)["Policies"]):
        if "Statement" in policy:
            documents.append(policy)
        elif "Ref" in policy:
            # Attaching a managed policy whose condition is false would fail the deployment.
            assert policy["Ref"] in resources, f"{function} attaches {policy['Ref']}, which is not created"
            documents.append(resources[policy["Ref"]]["Properties"]["PolicyDocument"])
    role_policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::RolePolicy"]
    documents += [
        policy["PolicyDocument"]
        for policy in role_policies
        if stack.resolve(policy["RoleName"]) == {"Ref": f"{function}Role"}
    ]
    return [statement for doc in documents for statement in stack.resolve(doc["Statement"])]


def statements_with(stack: Stack, action: str, function: str = "TaskEventsFunction") -> list[dict[str, Any]]:
    return [s for s in function_statements(stack, function) if action in _as_list(s["Action"])]


def statement_with(stack: Stack, action: str, function: str = "TaskEventsFunction") -> dict[str, Any] | None:
    found = statements_with(stack, action, function)
    assert len(found) <= 1, found
    return found[0] if found else None


def deployed_environment(stack: Stack, function: str) -> dict[str, str]:
    """The variables Lambda gives the function: Globals, then its own. A resource's Ref or GetAtt
    stands as "<Name>" or "<Name.Attribute>", as the evaluator's Fn::Sub writes them."""
    variables = {
        **TEMPLATE["Globals"]["Function"]["Environment"]["Variables"],
        **props(function)["Environment"]["Variables"],
    }
    return {name: _deployed(stack.resolve(value)) for name, value in variables.items()}


def _deployed(value: Any) -> str:
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    return f"<{value['Ref']}>"


# Every optional permission switched on: what the widest deployment of the stack grants.
EVERYTHING_GIVEN = Stack(
    RetryTaskDefinitionFamilies="nightly-etl,report",
    RetryPassRoleArns=f"arn:aws:iam::{ACCOUNT}:role/etl-task",
    DatadogApiKeyParameter="ssm:/a",
    SlackTokenParameter="secretsmanager:b",
)


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


# --------------------------------------------------------------------------- event patterns
# EventBridge's matching, for the operators our rules use, as the EventBridge user guide
# ("Content filtering in Amazon EventBridge event patterns") and aws/event-ruler define it:
# - every key of a pattern must match (and); "$or" holds alternative patterns;
# - a nested pattern descends into the event's object; over an array of objects it matches when
#   one element does (EventBridge flattens arrays);
# - a leaf is a list of alternatives: a value (exact match), {"prefix": p}, {"exists": bool} or
#   {"anything-but": value, [values] or {"prefix": p}}; an array in the event matches when one
#   item does, and an empty one has no value at all;
# - only exists: false matches an absent field. anything-but needs the field to be there, like
#   every other operator (LocalStack's rule engine, checked against AWS, does the same: PR #13268).

_ABSENT = object()


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    fields = event if isinstance(event, Mapping) else {}
    return all(
        any(matches(alternative, fields) for alternative in sub)
        if key == "$or"
        else _field_matches(sub, fields.get(key, _ABSENT))
        for key, sub in pattern.items()
    )


def _field_matches(sub: Any, value: Any) -> bool:
    if isinstance(sub, Mapping):
        return any(matches(sub, item) for item in (value if isinstance(value, list) else [value]))
    values = value if isinstance(value, list) else [] if value is _ABSENT else [value]
    return any(_leaf_matches(rule, values) for rule in sub)


def _leaf_matches(rule: Any, values: list[Any]) -> bool:
    if not isinstance(rule, Mapping):
        return rule in values
    ((operator, operand),) = rule.items()
    if operator == "exists":
        return bool(values) == operand
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(operand) for v in values)
    if operator == "anything-but":
        return any(not _excluded(operand, v) for v in values)
    raise AssertionError(f"{operator!r} is not simulated here: add it before a rule uses it")


def _excluded(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        ((operator, prefix),) = operand.items()
        assert operator == "prefix", operator
        return isinstance(value, str) and value.startswith(prefix)
    return value in (operand if isinstance(operand, list) else [operand])


def test_the_pattern_matcher_follows_eventbridge_on_the_operators_our_rules_use() -> None:
    not_a_service = {"group": [{"anything-but": {"prefix": "service:"}}]}
    assert matches(not_a_service, {"group": "family:etl"})
    assert not matches(not_a_service, {"group": "service:web"})
    assert not matches(not_a_service, {})  # anything-but needs the field
    assert matches({"group": [{"exists": False}]}, {})
    assert not matches({"group": [{"exists": False}]}, {"group": "family:etl"})
    failure_reason = {"failures": {"reason": [{"exists": True}]}}
    assert matches(failure_reason, {"failures": [{"arn": "a"}, {"reason": "RESOURCE:CPU"}]})
    assert not matches(failure_reason, {"failures": []})
    assert not matches(failure_reason, {"failures": [{"arn": "a"}]})
    assert matches({"$or": [{"a": ["x"]}, {"b": [{"prefix": "y"}]}]}, {"b": "yes"})
    assert matches({"status": ["STOPPED", "RUNNING"]}, {"status": "RUNNING"})
    assert not matches({"status": ["STOPPED", "RUNNING"]}, {"status": "DEPROVISIONING"})


# --------------------------------------------------------------------------- shape


def test_template_is_a_sam_template_with_the_agreed_function_globals() -> None:
    # Fn::ForEach must be expanded before SAM sees the template, so language extensions come first.
    assert TEMPLATE["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
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


def test_outputs_name_the_retry_queues_and_the_function_a_manual_retry_invokes() -> None:
    outputs = TEMPLATE["Outputs"]

    assert outputs["RetryQueueUrl"]["Value"] == {"Ref": "RetryQueue"}
    assert outputs["RetryDLQUrl"]["Value"] == {"Ref": "RetryDLQ"}
    # `aws lambda invoke --function-name` takes the name, which is what Ref gives for a function.
    assert outputs["RetryLauncherFunctionName"]["Value"] == {"Ref": "RetryLauncherFunction"}


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


# --------------------------------------------------------------------------- service tasks at the rule

SHARED_SAMPLES = ROOT.parent / "shared" / "aws-samples"  # real published events, where present
BATCH_SAMPLES = [
    "running-fargate",
    "stopped-success",
    "stopped-nonzero-exit",
    "stopped-oom",
    "stopped-spot-interrupted",
    "stopped-user",
    "stopped-taskdef-deleted",
]


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return event


def _task_state_changes() -> list[Any]:
    """Every ECS Task State Change sample the event model accepts: the repo's, and the published
    ones beside the project when they are there."""
    paths = sorted((ROOT / "events").glob("*.json")) + sorted(SHARED_SAMPLES.glob("*.json"))
    found = []
    for path in paths:
        event = json.loads(path.read_text())
        if isinstance(event, dict) and event.get("detail-type") == "ECS Task State Change":
            try:
                parse_task_event(event)
            except MalformedEvent:
                continue  # the function refuses it whatever the rule does
            found.append(pytest.param(event, id=path.name))
    return found


def _rule(stack: Stack) -> dict[str, Any]:
    pattern: dict[str, Any] = stack.resolve(props("TaskStateChangeRule")["EventPattern"])
    return pattern


@pytest.mark.parametrize("event", _task_state_changes())
def test_by_default_the_rule_delivers_exactly_the_events_the_function_reports(event: dict[str, Any]) -> None:
    """The rule delivers a sample exactly when it is RUNNING or STOPPED and not a service's task
    by the function's own test (TaskEvent.is_service_task). A service task's events stop at the
    rule: no SQS message, no invocation."""
    task = parse_task_event(event)
    reported = task.last_status in ("RUNNING", "STOPPED") and not task.is_service_task

    assert matches(_rule(Stack()), event) == reported


def test_the_service_task_samples_stop_at_the_rule_unless_service_tasks_are_watched() -> None:
    service = _sample("stopped-service-task")
    assert service["detail"]["group"].startswith("service:")

    assert not matches(_rule(Stack()), service)
    assert not matches(_rule(Stack(IncludeServiceTasks="false")), service)
    assert matches(_rule(Stack(IncludeServiceTasks="true")), service)
    assert "$or" not in _rule(Stack(IncludeServiceTasks="true"))["detail"]


@pytest.mark.parametrize("include_service_tasks", ["false", "true"])
@pytest.mark.parametrize("name", BATCH_SAMPLES)
def test_batch_tasks_reach_the_queue_whether_or_not_service_tasks_are_watched(
    name: str, include_service_tasks: str
) -> None:
    assert matches(_rule(Stack(IncludeServiceTasks=include_service_tasks)), _sample(name))


def test_a_task_without_a_group_is_delivered_as_the_function_reads_it_as_no_service_task() -> None:
    event = _sample("stopped-nonzero-exit")
    del event["detail"]["group"]

    assert not parse_task_event(event).is_service_task
    assert matches(_rule(Stack()), event)


def test_cluster_and_service_filters_hold_together() -> None:
    batch = _sample("stopped-nonzero-exit")
    cluster = batch["detail"]["clusterArn"]
    service = _sample("stopped-service-task")
    service["detail"]["clusterArn"] = cluster
    elsewhere = _sample("stopped-nonzero-exit")
    elsewhere["detail"]["clusterArn"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/other"

    rule = _rule(Stack(WatchedClusterArns=cluster))

    assert (matches(rule, batch), matches(rule, service), matches(rule, elsewhere)) == (True, False, False)
    assert matches(_rule(Stack(WatchedClusterArns=cluster, IncludeServiceTasks="true")), service)


def test_cluster_parameter_takes_cluster_arns_and_never_a_name() -> None:
    """CloudFormation applies a CommaDelimitedList's AllowedPattern to each item: a cluster name,
    which the rule would compare with clusterArn and never match, is refused at deploy time."""
    pattern = PARAMETERS["WatchedClusterArns"]["AllowedPattern"]

    accepted = (
        "",
        BATCH_ARN,
        f"arn:aws-cn:ecs:cn-north-1:{ACCOUNT}:cluster/etl_2",
        _sample("stopped-oom")["detail"]["clusterArn"],
    )
    for arn in accepted:
        assert re.fullmatch(pattern, arn), arn
    for rejected in (
        "batch",
        "cluster/batch",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/batch/web",
    ):
        assert not re.fullmatch(pattern, rejected), rejected


# --------------------------------------------------------------------------- queues


QUEUE_DLQ = [("TaskEventsQueue", "TaskEventsDLQ"), ("RetryQueue", "RetryDLQ")]
QUEUE_CONSUMER = [("TaskEventsQueue", "TaskEventsFunction"), ("RetryQueue", LAUNCHER)]


@pytest.mark.parametrize(("queue", "dlq"), QUEUE_DLQ)
def test_queue_sends_a_message_to_its_dlq_after_five_failed_receives(queue: str, dlq: str) -> None:
    redrive = props(queue)["RedrivePolicy"]

    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}, "maxReceiveCount": 5}


@pytest.mark.parametrize(("queue", "function"), QUEUE_CONSUMER)
def test_queue_visibility_timeout_is_six_times_its_consumers_timeout(queue: str, function: str) -> None:
    timeout = props(function).get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])

    assert props(queue)["VisibilityTimeout"] == 6 * timeout


@pytest.mark.parametrize("queue", ["TaskEventsQueue", "TaskEventsDLQ", "RetryQueue", "RetryDLQ"])
def test_queue_is_encrypted_at_rest(queue: str) -> None:
    assert props(queue)["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(("queue", "dlq"), QUEUE_DLQ)
def test_dlq_keeps_messages_14_days_longer_than_the_queue_keeps_them(queue: str, dlq: str) -> None:
    dlq_retention = props(dlq)["MessageRetentionPeriod"]

    assert dlq_retention == 14 * 24 * 3600
    assert dlq_retention > props(queue).get("MessageRetentionPeriod", 4 * 24 * 3600)


def test_only_our_rules_may_send_to_the_queues() -> None:
    policy = props("TaskEventsQueuePolicy")
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]

    assert policy["Queues"] == [{"Ref": "TaskEventsQueue"}, {"Ref": "TaskEventsDLQ"}]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert set(allow["Condition"]) == {"ArnEquals"}
    assert _queue_policy_sources(Stack()) == [TASK_RULE_ARN, LAUNCH_RULE_ARN]


def test_only_the_scheduler_role_is_granted_sending_to_the_retry_queues() -> None:
    """The functions send through their roles' IAM policies; the queue policy adds only Scheduler's role."""
    policy = props("RetryQueuePolicy")
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]

    assert policy["Queues"] == [{"Ref": "RetryQueue"}, {"Ref": "RetryDLQ"}]
    (allow,) = allows
    assert allow["Principal"] == {"AWS": {"Fn::GetAtt": ["RetrySchedulerRole", "Arn"]}}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == [{"Fn::GetAtt": ["RetryQueue", "Arn"]}, {"Fn::GetAtt": ["RetryDLQ", "Arn"]}]


@pytest.mark.parametrize("policy", ["TaskEventsQueuePolicy", "RetryQueuePolicy"])
def test_queue_policy_refuses_unencrypted_transport_on_every_queue_it_covers(policy: str) -> None:
    document = props(policy)["PolicyDocument"]
    covered = [{"Fn::GetAtt": [queue["Ref"], "Arn"]} for queue in props(policy)["Queues"]]

    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]

    assert (deny["Principal"], deny["Action"]) == ("*", "sqs:*")
    assert deny["Resource"] == covered
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --------------------------------------------------------------------------- function


def test_function_reads_the_queue_in_batches_and_reports_item_failures() -> None:
    function = props("TaskEventsFunction")
    (event,) = function["Events"].values()

    assert (function["CodeUri"], function["Handler"]) == (
        "src/",
        "ecswatch.handlers.task_events.lambda_handler",
    )
    assert event["Type"] == "SQS"
    assert event["Properties"] == {
        "Queue": {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]},
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 5,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_its_own_log_group_kept_30_days(function: str) -> None:
    logging_config = props(function)["LoggingConfig"]
    log_group = props(f"{function}LogGroup")

    assert logging_config["LogGroup"] == {"Ref": f"{function}LogGroup"}
    assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{function}"}
    assert log_group["RetentionInDays"] == 30


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
        "HISTORY_RETENTION_DAYS",
        "RETRY_QUEUE_URL",
        "RETRY_QUEUE_ARN",
        "RETRY_SCHEDULER_ROLE_ARN",
        "RETRY_DLQ_ARN",
    }
    assert variables["STATE_TABLE_NAME"] == {"Ref": "StateTable"}


def test_function_requests_retries_on_the_retry_queue_and_schedules_them_as_the_scheduler_role() -> None:
    settings = Settings.from_env(deployed_environment(Stack(), "TaskEventsFunction"))

    assert settings.retry_queue_url == "<RetryQueue>"  # Ref of a queue is its URL
    assert settings.retry_queue_arn == "<RetryQueue.Arn>"
    assert settings.retry_scheduler_role_arn == "<RetrySchedulerRole.Arn>"


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
        ({"HistoryRetentionDays": "30"}, "history_retention_days", 30),
    ],
)
def test_stack_parameter_reaches_the_settings_field(
    overrides: Mapping[str, str], field: str, expected: object
) -> None:
    """The template's variable names are the ones Settings.from_env reads, value for value."""
    environment = deployed_environment(Stack(**overrides), "TaskEventsFunction")

    assert getattr(Settings.from_env(environment), field) == expected


def test_stack_defaults_give_the_settings_defaults() -> None:
    environment = deployed_environment(Stack(), "TaskEventsFunction")
    # Resources exist only once deployed; without them the settings fall back to their defaults.
    environment = {name: "" if value.startswith("<") else value for name, value in environment.items()}

    assert Settings.from_env(environment) == Settings()


# --------------------------------------------------------------------------- retries: requesting them


def test_function_may_send_retry_requests_to_the_retry_queue_only() -> None:
    statement = statement_with(Stack(), "sqs:SendMessage")

    assert statement is not None
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["RetryQueue", "Arn"]}


def test_function_may_create_only_ecswatch_retry_schedules_of_the_default_group() -> None:
    statement = statement_with(Stack(), "scheduler:CreateSchedule")

    assert statement is not None
    assert statement["Action"] == "scheduler:CreateSchedule"
    assert statement["Resource"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/ecswatch-retry-*"


def test_function_may_pass_only_the_scheduler_role_and_only_to_scheduler() -> None:
    statement = statement_with(Stack(), "iam:PassRole")

    assert statement is not None
    assert statement["Resource"] == {"Fn::GetAtt": ["RetrySchedulerRole", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_may_read_the_targets_of_rules_of_this_account_and_region(function: str) -> None:
    """A retry, automatic or manual, reuses the network of the scheduled-task rule that started the run."""
    statement = statement_with(Stack(), "events:ListTargetsByRule", function)

    assert statement is not None
    assert statement["Action"] == "events:ListTargetsByRule"
    assert statement["Resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/*"


def test_function_may_not_run_tasks_itself() -> None:
    statements = function_statements(EVERYTHING_GIVEN)

    assert [s for s in statements if "ecs:RunTask" in _as_list(s["Action"])] == []
    assert [s["Resource"] for s in statements if "iam:PassRole" in _as_list(s["Action"])] == [
        {"Fn::GetAtt": ["RetrySchedulerRole", "Arn"]}
    ]


def test_scheduler_role_can_be_assumed_only_by_scheduler_on_behalf_of_this_account() -> None:
    trust = Stack().resolve(props("RetrySchedulerRole")["AssumeRolePolicyDocument"])

    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_scheduler_role_may_only_send_to_the_retry_queue_and_its_dead_letter_queue() -> None:
    role = props("RetrySchedulerRole")
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]

    assert "ManagedPolicyArns" not in role
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": [{"Fn::GetAtt": ["RetryQueue", "Arn"]}, {"Fn::GetAtt": ["RetryDLQ", "Arn"]}],
        }
    ]


def test_retry_schedules_dead_letter_to_the_retry_dlq() -> None:
    task_events = Settings.from_env(deployed_environment(Stack(), "TaskEventsFunction"))

    assert task_events.retry_dlq_arn == "<RetryDLQ.Arn>"


# --------------------------------------------------------------------------- retries: launching them


def test_launcher_reads_the_retry_queue_in_batches_and_reports_item_failures() -> None:
    function = props(LAUNCHER)
    (event,) = function["Events"].values()

    assert (function["CodeUri"], function["Handler"]) == (
        "src/",
        "ecswatch.handlers.retry_launcher.lambda_handler",
    )
    assert function["Timeout"] == 60
    assert event["Type"] == "SQS"
    assert event["Properties"] == {
        "Queue": {"Fn::GetAtt": ["RetryQueue", "Arn"]},
        "BatchSize": 10,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def test_launcher_environment_sets_every_agreed_variable() -> None:
    environment = deployed_environment(Stack(), LAUNCHER)

    assert set(props(LAUNCHER)["Environment"]["Variables"]) == {
        "STATE_TABLE_NAME",
        "DATADOG_SITE",
        "DATADOG_API_KEY_PARAMETER",
        "SLACK_TOKEN_PARAMETER",
        "SLACK_WEBHOOK_PARAMETER",
        "SLACK_DEFAULT_CHANNEL",
        "RETRY_QUEUE_URL",
        "RETRY_MAX_RECEIVES",
    }
    assert environment["STATE_TABLE_NAME"] == "<StateTable>"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "ecswatch"


def test_the_launcher_gives_up_and_alerts_on_the_retry_queues_last_receive() -> None:
    launcher = Settings.from_env(deployed_environment(Stack(), LAUNCHER))

    assert launcher.retry_max_receives == props("RetryQueue")["RedrivePolicy"]["maxReceiveCount"]
    assert launcher.retry_queue_url == "<RetryQueue>"


def test_the_launcher_may_delay_redelivery_of_the_retry_queue_only() -> None:
    (statement,) = statements_with(Stack(), "sqs:ChangeMessageVisibility", LAUNCHER)

    assert statement["Resource"] == {"Fn::GetAtt": ["RetryQueue", "Arn"]}


def test_the_launcher_may_queue_the_clean_up_jobs_of_failed_retries_to_the_retry_queue_only() -> None:
    """A refused or abandoned retry starts its job's on_failure jobs through the retry queue."""
    (statement,) = statements_with(Stack(), "sqs:SendMessage", LAUNCHER)

    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["RetryQueue", "Arn"]}


@pytest.mark.parametrize(
    "field",
    [
        "state_table_name",
        "datadog_site",
        "datadog_api_key_parameter",
        "slack_token_parameter",
        "slack_webhook_parameter",
        "slack_default_channel",
    ],
)
def test_launcher_notifies_and_records_state_like_the_task_events_function(field: str) -> None:
    stack = Stack(DatadogSite="datadoghq.eu", SlackDefaultChannel="#etl", **ALL_SECRETS)

    launcher = Settings.from_env(deployed_environment(stack, LAUNCHER))
    task_events = Settings.from_env(deployed_environment(stack, "TaskEventsFunction"))

    assert getattr(launcher, field) == getattr(task_events, field)
    assert getattr(launcher, field) != getattr(Settings(), field)


def test_without_retry_families_the_launcher_may_run_no_task() -> None:
    stack = Stack(RetryTaskDefinitionFamilies="")

    assert statements_with(stack, "ecs:RunTask", LAUNCHER) == []
    assert statements_with(stack, "ecs:TagResource", LAUNCHER) == []


def test_launcher_may_run_every_revision_of_the_given_families_and_nothing_else() -> None:
    stack = Stack(RetryTaskDefinitionFamilies="nightly-etl,report_build")

    statements = statements_with(stack, "ecs:RunTask", LAUNCHER)

    assert [(s["Effect"], s["Action"], "Condition" in s) for s in statements] == [
        ("Allow", "ecs:RunTask", False)
    ] * 2
    assert sorted(r for s in statements for r in _as_list(s["Resource"])) == [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-etl:*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/report_build:*",
    ]


def test_each_family_policy_name_fits_iam_for_the_longest_family_the_parameter_allows() -> None:
    longest = "f" * 119
    stack = Stack(RetryTaskDefinitionFamilies=longest)

    (policy,) = [r for r in stack.resources().values() if r["Type"] == "AWS::IAM::RolePolicy"]
    name = stack.resolve(policy["Properties"]["PolicyName"])

    assert re.fullmatch(PARAMETERS["RetryTaskDefinitionFamilies"]["AllowedPattern"], longest)
    assert not re.fullmatch(PARAMETERS["RetryTaskDefinitionFamilies"]["AllowedPattern"], longest + "f")
    assert re.fullmatch(r"[\w+=,.@-]{1,128}", name), name


def test_family_parameter_takes_family_names_and_never_a_wildcard() -> None:
    """CloudFormation applies a CommaDelimitedList's AllowedPattern to each item."""
    pattern = PARAMETERS["RetryTaskDefinitionFamilies"]["AllowedPattern"]

    for accepted in ("", "nightly-etl", "report_build2"):
        assert re.fullmatch(pattern, accepted), accepted
    for rejected in ("*", "etl-*", "nightly-etl:3", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/etl"):
        assert not re.fullmatch(pattern, rejected), rejected


def test_launcher_may_tag_only_the_tasks_its_run_task_creates() -> None:
    statement = statement_with(Stack(RetryTaskDefinitionFamilies="nightly-etl"), "ecs:TagResource", LAUNCHER)

    assert statement is not None
    assert statement["Action"] == "ecs:TagResource"
    assert statement["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/*"
    assert statement["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}


def test_without_pass_role_arns_the_launcher_may_pass_no_role() -> None:
    assert statement_with(Stack(RetryPassRoleArns=""), "iam:PassRole", LAUNCHER) is None


def test_launcher_may_pass_only_the_given_roles_and_only_to_ecs_tasks() -> None:
    roles = [f"arn:aws:iam::{ACCOUNT}:role/etl-task", f"arn:aws:iam::{ACCOUNT}:role/ecs/etl-execution"]

    statement = statement_with(Stack(RetryPassRoleArns=",".join(roles)), "iam:PassRole", LAUNCHER)

    assert statement is not None
    assert statement["Resource"] == roles
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_pass_role_parameter_takes_role_arns_and_never_a_wildcard() -> None:
    pattern = PARAMETERS["RetryPassRoleArns"]["AllowedPattern"]

    for accepted in ("", f"arn:aws:iam::{ACCOUNT}:role/etl-task", f"arn:aws:iam::{ACCOUNT}:role/ecs/etl"):
        assert re.fullmatch(pattern, accepted), accepted
    for rejected in ("*", f"arn:aws:iam::{ACCOUNT}:role/*", "etl-task", f"arn:aws:iam::{ACCOUNT}:user/bob"):
        assert not re.fullmatch(pattern, rejected), rejected


def test_launcher_may_describe_tasks_of_this_account_and_region_for_manual_retries() -> None:
    statement = statement_with(Stack(), "ecs:DescribeTasks", LAUNCHER)

    assert statement is not None
    assert statement["Action"] == "ecs:DescribeTasks"
    assert statement["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/*"


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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_without_secret_names_the_function_may_read_no_secret(function: str) -> None:
    stack = Stack()

    assert statement_with(stack, "ssm:GetParameter", function) is None
    assert statement_with(stack, "secretsmanager:GetSecretValue", function) is None
    assert statement_with(stack, "kms:Decrypt", function) is None
    assert not stack.condition("AnySecret")  # so no secrets policy, which IAM would reject as empty


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


@pytest.mark.parametrize("action", ["ssm:GetParameter", "secretsmanager:GetSecretValue", "kms:Decrypt"])
def test_the_retry_launcher_reads_exactly_the_secrets_the_task_events_function_reads(action: str) -> None:
    """Both notify Slack and Datadog; one shared policy keeps them from drifting apart."""
    stack = Stack(**ALL_SECRETS)

    launcher = statement_with(stack, action, LAUNCHER)

    assert launcher is not None
    assert launcher == statement_with(stack, action, "TaskEventsFunction")


# --------------------------------------------------------------------------- other IAM


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("TaskEventsFunction", ["ecs:DescribeTaskDefinition", "events:ListRules", "scheduler:ListSchedules"]),
        (LAUNCHER, ["events:ListRules", "scheduler:ListSchedules"]),
    ],
)
def test_only_actions_without_resource_level_permissions_act_on_every_resource(
    function: str, expected: list[str]
) -> None:
    """IAM accepts only "*" for ecs:DescribeTaskDefinition, events:ListRules and
    scheduler:ListSchedules (Service Authorization Reference); every other action is scoped."""
    wildcard = [s for s in function_statements(EVERYTHING_GIVEN, function) if s["Resource"] == "*"]

    assert sorted(s["Action"] for s in wildcard) == sorted(expected)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_statement_allows_a_wildcard_action(function: str) -> None:
    actions = [a for s in function_statements(EVERYTHING_GIVEN, function) for a in _as_list(s["Action"])]

    assert actions
    assert [a for a in actions if "*" in a] == []


def test_without_log_groups_log_tails_are_read_from_every_log_stream_of_this_account() -> None:
    """The default keeps working wherever the jobs log: any log group, in any region (awslogs-region
    may differ from the stack's), of this account only."""
    statement = statement_with(Stack(), "logs:GetLogEvents")

    assert statement is not None
    assert statement["Action"] == "logs:GetLogEvents"
    assert statement["Resource"] == f"arn:aws:logs:*:{ACCOUNT}:log-group:*:log-stream:*"


def test_given_log_groups_log_tails_are_read_from_their_streams_only() -> None:
    groups = [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/nightly-report",
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/ecs/etl-*",
    ]

    statement = statement_with(Stack(TaskLogGroupArns=",".join(groups)), "logs:GetLogEvents")

    assert statement is not None
    assert statement["Resource"] == [f"{group}:log-stream:*" for group in groups]
    (one,) = [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/nightly-report"]
    single = statement_with(Stack(TaskLogGroupArns=one), "logs:GetLogEvents")
    assert single is not None
    assert single["Resource"] == [f"{one}:log-stream:*"]


def test_log_group_parameter_takes_log_group_arns_without_the_consoles_stream_wildcard() -> None:
    """A name or the console's "...:log-group:/ecs/x:*" would grant nothing once ":log-stream:*" is
    appended; both are refused at deploy time. Each item is checked (CommaDelimitedList)."""
    pattern = PARAMETERS["TaskLogGroupArns"]["AllowedPattern"]

    for accepted in (
        "",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/nightly-report",
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/ecs/*",
        f"arn:aws-us-gov:logs:us-gov-west-1:{ACCOUNT}:log-group:/aws/batch/job",
    ):
        assert re.fullmatch(pattern, accepted), accepted
    for rejected in (
        "/ecs/nightly-report",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/nightly-report:*",
        f"arn:aws:logs:{REGION}:*:log-group:/ecs/x",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/x:log-stream:abc",
    ):
        assert not re.fullmatch(pattern, rejected), rejected


def _dynamodb_operations_called_in(source: str, client: Any) -> set[str]:
    """The DynamoDB API operations a module calls: every attribute named like a DynamoDB client
    method (``db.put_item(...)``, or ``call(db.query, ...)``), by its API name (put_item -> PutItem)."""
    methods = client.meta.method_to_api_mapping
    called = {methods[name] for name in re.findall(r"\.(\w+)\b", source) if name in methods}
    if "TransactWriteItems" in called:
        # IAM has no action of its own for a transaction: each item is authorised as the action it
        # performs (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
        called.discard("TransactWriteItems")
        items = set(re.findall(r'\{"(Put|Update|Delete|ConditionCheck)":', source))
        called |= {f"{item}Item" for item in items}
    return called


def dynamodb_operations_the_code_calls() -> set[str]:
    """What the functions call on the state table: the adapters under ecswatch/adapters/dynamodb/,
    and the Powertools Idempotency persistence layer that PowertoolsOnceGuard uses."""
    import inspect

    import boto3
    from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb as powertools_store

    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    adapters = sorted((ROOT / "src" / "ecswatch" / "adapters" / "dynamodb").glob("*.py"))
    sources = [path.read_text(encoding="utf-8") for path in adapters] + [inspect.getsource(powertools_store)]
    return set().union(*(_dynamodb_operations_called_in(source, client) for source in sources))


def test_the_state_table_policy_grants_exactly_the_operations_the_code_calls() -> None:
    """No Scan, batch or transaction operations (DynamoDBCrudPolicy granted them), nothing the
    code does not call; and everything it does, so a new call fails here rather than in AWS."""
    statements = RESOURCES["StateTablePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    granted = {action for statement in statements for action in _as_list(statement["Action"])}
    called = dynamodb_operations_the_code_calls()

    assert {"PutItem", "GetItem", "UpdateItem", "Query"} <= called  # the derivation finds the adapters
    assert granted == {f"dynamodb:{operation}" for operation in called}


def test_the_state_table_policy_covers_the_table_and_the_run_history_index_only() -> None:
    statements = RESOURCES["StateTablePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    resources = {json.dumps(statement["Resource"], sort_keys=True): statement for statement in statements}

    assert set(resources) == {
        json.dumps({"Fn::GetAtt": ["StateTable", "Arn"]}),
        json.dumps({"Fn::Sub": "${StateTable.Arn}/index/gsi1"}),
    }
    assert resources[json.dumps({"Fn::Sub": "${StateTable.Arn}/index/gsi1"})]["Action"] == "dynamodb:Query"
    assert props("StateTable")["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"


@pytest.mark.parametrize("function", [*FUNCTIONS, "WatchdogFunction"])
def test_function_reaches_the_state_table_through_the_state_table_policy_only(function: str) -> None:
    policies = props(function)["Policies"]
    statements = [
        statement
        for statement in function_statements(EVERYTHING_GIVEN, function)
        if statement.get("Sid") not in ("ReadAndWriteRunState", "QueryRunsOfAJob")
    ]

    assert {"Ref": "StateTablePolicy"} in policies
    assert not any("DynamoDBCrudPolicy" in policy for policy in policies if isinstance(policy, dict))
    assert not any("dynamodb" in s for s in all_strings(statements))


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
    "RetryDeadLetterQueueNotEmptyAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "RetryDLQ", 0),
    "RetryLauncherErrorsAlarm": ("AWS/Lambda", "Errors", LAUNCHER, 0),
}


@pytest.mark.parametrize(("alarm", "expected"), ALARMS.items())
def test_alarm_fires_above_its_threshold_on_its_resource(alarm: str, expected: tuple[Any, ...]) -> None:
    namespace, metric, resource, threshold = expected
    alarm_props = props(alarm)
    (dimension,) = alarm_props["Dimensions"]

    assert (alarm_props["Namespace"], alarm_props["MetricName"]) == (namespace, metric)
    assert dimension["Value"] in ({"Ref": resource}, {"Fn::GetAtt": [resource, "QueueName"]})
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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_dashboard_shows_the_health_of_function(function: str) -> None:
    metrics = _dashboard_metrics()
    function_metrics = {m[1] for m in metrics if m[:1] == ["AWS/Lambda"] and m[3] == f"<{function}>"}

    assert {"Invocations", "Errors", "Duration"} <= function_metrics


def test_dashboard_shows_the_depth_of_every_queue() -> None:
    queues = {key for key, r in EVERYTHING_GIVEN.resources().items() if r["Type"] == "AWS::SQS::Queue"}
    visible = ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]

    depth_of = {m[3] for m in _dashboard_metrics() if m[:2] == visible}

    assert depth_of == {f"<{queue}.QueueName>" for queue in queues}


# --------------------------------------------------------------------------- samconfig and local run


def test_samconfig_overrides_exactly_the_template_parameters() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config["default"]["deploy"]["parameters"]

    overridden = {item.split("=", 1)[0] for item in deploy["parameter_overrides"]}

    assert overridden == set(PARAMETERS)
    assert config["default"]["global"]["parameters"]["stack_name"] == "ecswatch"
    assert deploy["capabilities"] == "CAPABILITY_IAM"


def test_samconfig_overrides_give_every_parameter_its_template_default() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]

    values = dict(item.split("=", 1) for item in overrides)

    assert values == {name: f'"{spec.get("Default", "")}"' for name, spec in PARAMETERS.items()}


def test_samconfig_lets_every_sam_command_expand_the_language_extensions() -> None:
    """Without it sam build, local invoke and deploy stop at the first Fn::ForEach ("'list' object ...")."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))

    assert config["default"]["global"]["parameters"]["language_extensions"] is True


@pytest.mark.parametrize("function", FUNCTIONS)
def test_local_env_file_sets_only_variables_the_function_declares(function: str) -> None:
    """sam local invoke silently ignores variables the template does not declare for the function."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    env_file = ROOT / config["default"]["local_invoke"]["parameters"]["env_vars"]
    declared = set(deployed_environment(Stack(), function))

    local = json.loads(env_file.read_text(encoding="utf-8"))[function]
    settings = Settings.from_env(local)

    assert set(local) <= declared
    # Locally nothing is deployed: no state table, and retries are not requested on a real queue.
    assert (settings.state_table_name, settings.retry_queue_url) == ("", "")
    assert settings.log_tail_lines == 30


# --------------------------------------------------------------------------- failed launches


def _event_pattern(rule: str) -> dict[str, Any]:
    pattern: dict[str, Any] = props(rule)["EventPattern"]
    return pattern


@pytest.mark.parametrize(
    "name",
    [
        "cloudtrail-runtask-capacity-failure",
        "cloudtrail-runtask-access-denied",
        "cloudtrail-runtask-invalid-parameter",
    ],
)
def test_the_failed_launch_rule_matches_each_failed_run_task_call(name: str) -> None:
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())

    assert matches(_event_pattern("FailedLaunchRule"), event)


def test_the_failed_launch_rule_lets_successful_launches_pass_by_at_no_cost() -> None:
    event = json.loads((ROOT / "events" / "cloudtrail-runtask-success.json").read_text())

    assert not matches(_event_pattern("FailedLaunchRule"), event)


@pytest.mark.parametrize(
    "failure",
    [
        {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/batch/0f6c1e2d3b4a59687a6b5c4d3e2f1a0b"},
        {"detail": "Task definition family nightly-report has no ACTIVE revision"},
        {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/batch/1a", "detail": "no reason given"},
    ],
)
def test_the_failed_launch_rule_matches_a_failure_without_a_reason(failure: dict[str, str]) -> None:
    """ECS marks every field of a RunTask failure optional: an entry is a failure whatever it holds."""
    event = json.loads((ROOT / "events" / "cloudtrail-runtask-capacity-failure.json").read_text())
    event["detail"]["responseElements"]["failures"] = [failure]

    assert matches(_event_pattern("FailedLaunchRule"), event)


def test_the_failed_launch_rule_lets_a_call_with_an_empty_failures_list_pass_by() -> None:
    event = json.loads((ROOT / "events" / "cloudtrail-runtask-capacity-failure.json").read_text())
    event["detail"]["responseElements"]["failures"] = []

    assert not matches(_event_pattern("FailedLaunchRule"), event)


def test_the_task_state_change_rule_and_the_failed_launch_rule_see_different_events() -> None:
    stopped = json.loads((ROOT / "events" / "stopped-nonzero-exit.json").read_text())
    failed = json.loads((ROOT / "events" / "cloudtrail-runtask-capacity-failure.json").read_text())

    assert not matches(_event_pattern("FailedLaunchRule"), stopped)
    assert not matches({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}, failed)


def _queue_policy_sources(stack: Stack) -> Any:
    statement = props("TaskEventsQueuePolicy")["PolicyDocument"]["Statement"][0]
    return stack.resolve(statement["Condition"]["ArnEquals"]["aws:SourceArn"])


TASK_RULE_ARN = {"Fn::GetAtt": ["TaskStateChangeRule", "Arn"]}
LAUNCH_RULE_ARN = {"Fn::GetAtt": ["FailedLaunchRule", "Arn"]}


def test_failed_launches_feed_the_task_events_queue_which_accepts_them() -> None:
    (target,) = props("FailedLaunchRule")["Targets"]

    assert target["Arn"] == {"Fn::GetAtt": ["TaskEventsQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TaskEventsDLQ", "Arn"]}}
    assert _queue_policy_sources(Stack()) == [TASK_RULE_ARN, LAUNCH_RULE_ARN]


def test_failed_launches_can_be_switched_off_where_no_trail_records_them() -> None:
    assert RESOURCES["FailedLaunchRule"]["Condition"] == "WatchesFailedLaunches"
    assert PARAMETERS["WatchFailedLaunches"]["Default"] == "true"
    assert _queue_policy_sources(Stack(WatchFailedLaunches="false")) == [TASK_RULE_ARN]


# --------------------------------------------------------------------------- watchdog

WATCHDOG = "WatchdogFunction"
BATCH_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch"
ETL_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/etl"
WATCHED = Stack(WatchedClusterArns=f"{BATCH_ARN},{ETL_ARN}")


def test_the_watchdog_runs_every_five_minutes_and_a_failed_pass_waits_for_the_next() -> None:
    function = props(WATCHDOG)
    (event,) = function["Events"].values()

    assert (function["CodeUri"], function["Handler"]) == ("src/", "ecswatch.handlers.watchdog.lambda_handler")
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(5 minutes)"
    assert function["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}
    assert function["Timeout"] < 300  # done before the next pass starts


def test_the_watchdog_logs_to_its_own_log_group_kept_30_days() -> None:
    log_group = props(f"{WATCHDOG}LogGroup")

    assert props(WATCHDOG)["LoggingConfig"]["LogGroup"] == {"Ref": f"{WATCHDOG}LogGroup"}
    assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{WATCHDOG}"}
    assert log_group["RetentionInDays"] == 30


def test_the_watchdog_thresholds_are_stack_parameters() -> None:
    watchdog = Settings.from_env(
        deployed_environment(
            Stack(WatchdogStuckStartSeconds="900", WatchdogMissedRunGraceSeconds="1200"), WATCHDOG
        )
    )

    assert (watchdog.watchdog_stuck_start_seconds, watchdog.watchdog_missed_run_grace_seconds) == (900, 1200)
    assert PARAMETERS["WatchdogStuckStartSeconds"]["Default"] == Settings().watchdog_stuck_start_seconds
    assert (
        PARAMETERS["WatchdogMissedRunGraceSeconds"]["Default"] == Settings().watchdog_missed_run_grace_seconds
    )


def test_the_watchdog_watches_the_clusters_and_alerts_where_the_task_events_function_does() -> None:
    watchdog = Settings.from_env(deployed_environment(WATCHED, WATCHDOG))
    task_events = Settings.from_env(deployed_environment(WATCHED, "TaskEventsFunction"))

    for field in (
        "watch_clusters",
        "include_service_tasks",
        "state_table_name",
        "datadog_site",
        "datadog_api_key_parameter",
        "slack_token_parameter",
        "slack_webhook_parameter",
        "slack_default_channel",
    ):
        assert getattr(watchdog, field) == getattr(task_events, field), field


@pytest.mark.parametrize("action", ["ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"])
def test_the_watchdog_may_read_and_stop_tasks_of_the_watched_clusters_only(action: str) -> None:
    statement = statement_with(WATCHED, action, WATCHDOG)

    assert statement is not None
    assert statement["Condition"] == {"ArnLike": {"ecs:cluster": [BATCH_ARN, ETL_ARN]}}
    assert statement_with(WATCHED, "ecs:ListClusters", WATCHDOG) is None


@pytest.mark.parametrize("action", ["ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"])
def test_watching_every_cluster_the_watchdog_stays_in_this_account_and_region(action: str) -> None:
    statement = statement_with(Stack(), action, WATCHDOG)

    assert statement is not None
    assert statement["Condition"] == {"ArnLike": {"ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/*"}}
    assert statement_with(Stack(), "ecs:ListClusters", WATCHDOG) is not None


def test_the_watchdog_reads_the_schedules_of_this_account_and_region_only() -> None:
    rule = statement_with(Stack(), "events:DescribeRule", WATCHDOG)
    schedule = statement_with(Stack(), "scheduler:GetSchedule", WATCHDOG)

    assert rule is not None
    assert schedule is not None
    assert rule["Resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/*"
    assert schedule["Resource"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/*/*"


def test_the_watchdog_acts_on_every_resource_only_where_iam_offers_nothing_narrower() -> None:
    statements = function_statements(Stack(), WATCHDOG)
    wildcard = sorted(a for s in statements if s["Resource"] == "*" for a in _as_list(s["Action"]))
    actions = [a for s in function_statements(EVERYTHING_GIVEN, WATCHDOG) for a in _as_list(s["Action"])]

    assert wildcard == [
        "ecs:DescribeTaskDefinition",
        "ecs:ListClusters",
        "ecs:ListTasks",
        "events:ListRules",
        "scheduler:ListSchedules",
    ]
    assert [a for a in actions if "*" in a] == []
    assert not any(a.startswith(("ecs:RunTask", "iam:")) for a in actions)


def test_the_watchdog_reads_the_alert_secrets_and_the_state_table_as_the_other_functions_do() -> None:
    policies = props(WATCHDOG)["Policies"]

    assert {"Ref": "StateTablePolicy"} in policies
    assert {"Ref": "ReadAlertSecretsPolicy"} in EVERYTHING_GIVEN.resolve(policies)
    assert {"Ref": "ReadAlertSecretsPolicy"} not in Stack().resolve(policies)


def test_the_heartbeat_alarm_fires_when_the_watchdog_has_not_run_for_15_minutes() -> None:
    alarm = props("WatchdogHeartbeatAlarm")
    (dimension,) = alarm["Dimensions"]

    assert (alarm["Namespace"], alarm["MetricName"], dimension["Value"]) == (
        "AWS/Lambda",
        "Invocations",
        {"Ref": WATCHDOG},
    )
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 15 * 60
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    # No invocation publishes no data point: missing data must count as "not running".
    assert alarm["TreatMissingData"] == "breaching"


def test_the_watchdog_errors_alarm_fires_on_any_failed_pass() -> None:
    alarm = props("WatchdogErrorsAlarm")

    assert (alarm["MetricName"], alarm["Dimensions"][0]["Value"]) == ("Errors", {"Ref": WATCHDOG})
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    "alarm", ["WatchdogHeartbeatAlarm", "WatchdogErrorsAlarm", "DeadLetterQueueNotEmptyAlarm"]
)
def test_the_watchdog_alarms_and_the_dlq_alarm_notify_the_email_topic_when_one_is_given(alarm: str) -> None:
    actions = props(alarm)["AlarmActions"]

    assert Stack(AlarmEmail="oncall@example.com").resolve(actions) == [{"Ref": "AlarmTopic"}]
    assert Stack(AlarmEmail="").resolve(actions) is NO_VALUE


def test_outputs_name_the_watchdog_function() -> None:
    assert TEMPLATE["Outputs"]["WatchdogFunctionName"]["Value"] == {"Ref": WATCHDOG}


# --------------------------------------------------------------------------- sam local invoke


@pytest.mark.parametrize(
    "function",
    sorted(
        n for n, r in RESOURCES.items() if isinstance(r, dict) and r["Type"] == "AWS::Serverless::Function"
    ),
)
def test_sam_local_env_sets_every_variable_each_function_reads(function: str) -> None:
    """`sam local invoke` passes only variables the template declares; local/sam-local-env.json
    must give each of them a local value (no unresolved Refs reach the container)."""
    local = json.loads((ROOT / "local" / "sam-local-env.json").read_text())

    declared = set(props(function)["Environment"]["Variables"])

    assert declared <= set(local[function]), declared - set(local[function])


@pytest.mark.parametrize("function", ["TaskEventsFunction", LAUNCHER])
def test_retries_may_find_a_rule_whose_name_startedby_cut(function: str) -> None:
    """RuleNetworkDiscovery lists rules by prefix when startedBy holds only the first 24 characters."""
    (statement,) = statements_with(Stack(), "events:ListRules", function)

    assert statement["Resource"] == "*"


@pytest.mark.parametrize("function", ["TaskEventsFunction", LAUNCHER])
def test_retries_may_read_the_schedule_that_started_a_task(function: str) -> None:
    (statement,) = statements_with(Stack(), "scheduler:GetSchedule", function)

    assert statement["Resource"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/*/*"


def test_both_retry_paths_read_the_starting_rule_or_schedule_through_one_policy() -> None:
    for function in ("TaskEventsFunction", LAUNCHER):
        assert {"Ref": "ReadStartingRuleOrSchedulePolicy"} in props(function)["Policies"]


def _dashboard_searches() -> list[str]:
    return [m[0]["expression"] for m in _dashboard_metrics() if m and isinstance(m[0], dict)]


@pytest.mark.parametrize(
    ("metric", "dimensions"),
    [
        ("Runs", "{ecswatch,service,job,outcome}"),
        ("RunDuration", "{ecswatch,service,job}"),
        ("StartLatency", "{ecswatch,service,job,launch_type}"),
    ],
)
def test_dashboard_graphs_each_job_from_the_per_job_emf_dimensions(metric: str, dimensions: str) -> None:
    """The EmfSink writes these dimension sets (tests/adapters/test_emf.py); SEARCH draws one line per job."""
    searches = [s for s in _dashboard_searches() if f'MetricName="{metric}"' in s]

    assert searches
    assert all(s.startswith(f"SEARCH('{dimensions} ") and 'service="ecswatch"' in s for s in searches)


def test_dashboard_shows_failed_runs_by_job_apart_from_successes() -> None:
    assert any('NOT outcome="succeeded"' in s for s in _dashboard_searches())
