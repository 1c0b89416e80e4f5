"""`ecswatch doctor`: can the deployed stack do its work? One line per check, ✔ or ✘ with the fix.

It reads the stack's resources (DescribeStackResources) and the settings the functions run with (the
task-events function's environment), then checks: the EventBridge rules exist and are enabled; the
queues' depth, the dead-letter queues empty and the oldest message's age (SQS attributes and the
CloudWatch metric ApproximateAgeOfOldestMessage); each function's invocations and errors over the last
day (CloudWatch), the watchdog's pass in the last quarter hour; the state table and its TTL; Slack
(``auth.test`` with the stored token, read as the functions read it, and that the bot can post in every
channel jobs.yaml names); Datadog (the API key validates on the configured site); a CloudTrail trail
recording management events in the region (failed RunTask calls reach EventBridge only through one);
for each job that retries or is started by a chain, that the launcher's role may ``ecs:RunTask`` its
task definition and ``iam:PassRole`` its roles (``iam:SimulatePrincipalPolicy``); and that jobs.yaml's
schedules agree with the rules and schedules.

Every check stands alone: one that cannot read what it needs fails with the AWS error and the
permission to grant, and the others still run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.exceptions import BotoCoreError, ClientError
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.authentication_api import AuthenticationApi

from ecswatch.adapters.secrets import SecretError, resolve_secret
from ecswatch.cli import jobs as job_view
from ecswatch.cli import views
from ecswatch.cli.aws import CliError, error_code
from ecswatch.cli.checks import Check
from ecswatch.cli.scheduled import ScheduledTask, family_of
from ecswatch.cli.slack_checks import slack_checks
from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.config.settings import Settings, SettingsError
from ecswatch.errors import TransientError

#: The template's QueueBacklogTooOldAlarm threshold: older than this, alerts are late.
MAX_MESSAGE_AGE_SECONDS = 900
#: The watchdog runs every 5 minutes; three missed passes is a stopped watchdog.
WATCHDOG_SILENCE = timedelta(minutes=15)
FUNCTION_WINDOW = timedelta(hours=24)
TTL_ATTRIBUTE = "expires_at"
SETTINGS_FUNCTION = "TaskEventsFunction"
LAUNCHER_FUNCTION = "RetryLauncherFunction"
WATCHDOG_FUNCTION = "WatchdogFunction"
FAILED_LAUNCH_RULE = "FailedLaunchRule"

#: ``clients("sqs")``: a boto3 client for the stack's region.
Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Resource:
    logical: str
    kind: str
    physical: str


def default_stack(environ: Mapping[str, str], samconfig: Path = Path("samconfig.toml")) -> str:
    """ECSWATCH_STACK, else samconfig.toml's ``stack_name`` (what `sam deploy` deployed)."""
    if environ.get("ECSWATCH_STACK"):
        return environ["ECSWATCH_STACK"]
    try:
        data = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CliError(
            f"which stack? use --stack, set ECSWATCH_STACK, or run where samconfig.toml is ({e})"
        ) from e
    name = data.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
    if not name:
        raise CliError(f"{samconfig} names no stack_name; use --stack")
    return str(name)


def stack_resources(client: Any, stack: str) -> list[Resource]:
    try:
        found = client.describe_stack_resources(StackName=stack)["StackResources"]
    except ClientError as e:
        if error_code(e) == "ValidationError":
            raise CliError(
                f"CloudFormation stack {stack!r} not found in this region (--stack, --region)"
            ) from e
        raise CliError(f"cannot read stack {stack!r}: {error_code(e)}: {e}") from e
    except BotoCoreError as e:
        raise CliError(f"cannot read stack {stack!r}: {e}") from e
    return [
        Resource(str(r["LogicalResourceId"]), str(r["ResourceType"]), str(r.get("PhysicalResourceId", "")))
        for r in found
    ]


@dataclass
class Doctor:
    clients: Clients
    stack: str
    region: str
    jobs: JobsConfig
    now: datetime
    #: The region's scheduled ECS tasks (``ecswatch.cli.scheduled``), for the schedule agreement check.
    tasks: Callable[[], Sequence[ScheduledTask]]

    def run(self) -> list[Check]:
        resources = stack_resources(self.clients("cloudformation"), self.stack)
        by_kind: dict[str, list[Resource]] = {}
        for resource in sorted(resources, key=lambda r: r.logical):
            by_kind.setdefault(resource.kind, []).append(resource)
        logical = {r.logical: r for r in resources}
        checks = [
            *self._each(by_kind.get("AWS::Events::Rule", []), self.rule, "rule", "events:DescribeRule"),
            *self._each(by_kind.get("AWS::SQS::Queue", []), self.queue, "queue", "sqs:GetQueueAttributes"),
            *self._each(
                by_kind.get("AWS::Lambda::Function", []),
                self.function,
                "function",
                "cloudwatch:GetMetricStatistics",
            ),
            *self._each(
                by_kind.get("AWS::DynamoDB::Table", []),
                self.table,
                "table",
                "dynamodb:DescribeTimeToLive",
            ),
        ]
        settings = self._settings(logical.get(SETTINGS_FUNCTION), checks)
        if settings is not None:
            checks += self.slack(settings)
            checks.append(self.datadog(settings))
        checks.append(
            self._guarded(
                "CloudTrail",
                "cloudtrail:DescribeTrails, GetEventSelectors",
                lambda: self.cloudtrail(FAILED_LAUNCH_RULE in logical),
            )
        )
        checks += self.launcher(logical.get(LAUNCHER_FUNCTION))
        checks += self._guarded_many("schedules", "events:ListRules, scheduler:ListSchedules", self.schedules)
        return checks

    # -- helpers
    def _each(
        self, resources: Sequence[Resource], check: Callable[[Resource], Check], what: str, action: str
    ) -> list[Check]:
        if not resources:
            return [
                Check(False, f"{what}s", "none in the stack", "redeploy the stack: sam build && sam deploy")
            ]
        return [self._guarded(f"{what} {r.logical}", action, partial(check, r)) for r in resources]

    def _guarded(self, name: str, action: str, check: Callable[[], Check]) -> Check:
        try:
            return check()
        except ClientError as e:
            return Check(False, name, f"cannot read: {error_code(e)}", f"grant {action} to the caller")
        except (BotoCoreError, CliError) as e:
            return Check(False, name, f"cannot read: {e}", "check --region and the network")

    def _guarded_many(self, name: str, action: str, checks: Callable[[], list[Check]]) -> list[Check]:
        try:
            return checks()
        except ClientError as e:
            return [Check(False, name, f"cannot read: {error_code(e)}", f"grant {action} to the caller")]
        except (BotoCoreError, CliError) as e:
            return [Check(False, name, f"cannot read: {e}", "check --region and the network")]

    # -- EventBridge rules
    def rule(self, resource: Resource) -> Check:
        name = f"rule {resource.logical}"
        bus, _, rule = resource.physical.rpartition("|")
        try:
            found = self.clients("events").describe_rule(Name=rule, **({"EventBusName": bus} if bus else {}))
        except ClientError as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            return Check(False, name, f"{rule} does not exist", "redeploy the stack: sam deploy")
        if found.get("State") != "ENABLED":
            return Check(
                False, name, f"{rule} is {found.get('State')}", f"aws events enable-rule --name {rule}"
            )
        return Check(True, name, f"{rule} enabled")

    # -- queues
    def queue(self, resource: Resource) -> Check:
        url, queue_name = resource.physical, resource.physical.rsplit("/", 1)[-1]
        attributes = self.clients("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "QueueArn",
            ],
        )["Attributes"]
        waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
        name = f"queue {resource.logical}"
        if resource.logical.endswith("DLQ"):
            if waiting:
                return Check(
                    False,
                    name,
                    f"{waiting} dead-lettered messages in {queue_name}: events or retries never handled",
                    f"read them (aws sqs receive-message --queue-url {url}), fix the cause, then redrive: "
                    f"aws sqs start-message-move-task --source-arn {attributes.get('QueueArn', queue_name)}",
                )
            return Check(True, name, f"{queue_name} empty")
        oldest = self._max_metric(
            "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue_name, timedelta(minutes=15)
        )
        age = f", oldest {views.seconds(oldest)}" if oldest is not None else ""
        if oldest is not None and oldest > MAX_MESSAGE_AGE_SECONDS:
            return Check(
                False,
                name,
                f"{waiting} waiting{age}: alerts are late",
                "the function that reads it is failing or throttled: see its line below and its log",
            )
        return Check(True, name, f"{waiting} waiting{age}")

    def _max_metric(
        self, namespace: str, metric: str, dimension: str, value: str, window: timedelta
    ) -> float | None:
        points = self._datapoints(namespace, metric, dimension, value, window=window, statistic="Maximum")
        return max((p["Maximum"] for p in points), default=None)

    def _sums(self, metric: str, function: str) -> list[Mapping[str, Any]]:
        """A Lambda metric's 5-minute sums over the last day."""
        return self._datapoints(
            "AWS/Lambda", metric, "FunctionName", function, window=FUNCTION_WINDOW, statistic="Sum"
        )

    def _datapoints(
        self, namespace: str, metric: str, dimension: str, value: str, *, window: timedelta, statistic: str
    ) -> list[Mapping[str, Any]]:
        found = self.clients("cloudwatch").get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": dimension, "Value": value}],
            StartTime=self.now - window,
            EndTime=self.now,
            Period=300,
            Statistics=[statistic],
        )
        return list(found.get("Datapoints", []))

    # -- functions
    def function(self, resource: Resource) -> Check:
        fn, name = resource.physical, f"function {resource.logical}"
        invoked = [p for p in self._sums("Invocations", fn) if p["Sum"] > 0]
        errors = sum(p["Sum"] for p in self._sums("Errors", fn))
        last = max((p["Timestamp"] for p in invoked), default=None)
        count = int(sum(p["Sum"] for p in invoked))
        detail = (
            f"{count} invocations, {int(errors)} errors in 24h, last {views.when(last)} UTC"
            if last
            else "not invoked in 24h"
        )
        logs = f"sam logs -n {resource.logical} --stack-name {self.stack} --start-time '24 hours ago'"
        if errors:
            return Check(False, name, detail, f"read its errors: {logs}")
        if resource.logical == WATCHDOG_FUNCTION and (last is None or self.now - last > WATCHDOG_SILENCE):
            return Check(
                False,
                name,
                f"{detail}; it runs every 5 minutes",
                "check its schedule rule above, then its log: " + logs,
            )
        return Check(True, name, detail)

    # -- state table
    def table(self, resource: Resource) -> Check:
        client, table, name = self.clients("dynamodb"), resource.physical, f"table {resource.logical}"
        status = client.describe_table(TableName=table)["Table"]["TableStatus"]
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if status != "ACTIVE":
            return Check(False, name, f"{table} is {status}", "wait for it to become ACTIVE, or redeploy")
        if (
            ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
            or ttl.get("AttributeName") != TTL_ATTRIBUTE
        ):
            return Check(
                False,
                name,
                f"{table} has no TTL on {TTL_ATTRIBUTE}: history is never deleted",
                f"aws dynamodb update-time-to-live --table-name {table} "
                f"--time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}",
            )
        return Check(True, name, f"{table} active, TTL on {TTL_ATTRIBUTE}")

    # -- the functions' settings
    def _settings(self, function: Resource | None, checks: list[Check]) -> Settings | None:
        if function is None:
            checks.append(
                Check(False, "settings", f"no {SETTINGS_FUNCTION} in the stack", "redeploy the stack")
            )
            return None
        try:
            found = self.clients("lambda").get_function_configuration(FunctionName=function.physical)
            return Settings.from_env(found.get("Environment", {}).get("Variables", {}))
        except ClientError as e:
            fix = "grant lambda:GetFunctionConfiguration to the caller"
            checks.append(Check(False, "settings", f"cannot read {function.physical}: {error_code(e)}", fix))
        except SettingsError as e:
            checks.append(Check(False, "settings", str(e), "fix the parameter in samconfig.toml and deploy"))
        return None

    @contextmanager
    def _secrets_as_functions_read_them(self) -> Iterator[None]:
        """``ecswatch.adapters.secrets`` (Powertools Parameters) with this command's credentials."""
        saved = dict(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS["ssm"] = SSMProvider(boto3_client=self.clients("ssm"))
        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=self.clients("secretsmanager"))
        try:
            yield
        finally:
            DEFAULT_PROVIDERS.clear()
            DEFAULT_PROVIDERS.update(saved)

    def _secret(self, reference: str) -> tuple[str | None, str]:

        try:
            with self._secrets_as_functions_read_them():
                return resolve_secret(reference, max_age=0), ""
        except (SecretError, TransientError) as e:
            return None, str(e)

    # -- Slack
    def slack(self, settings: Settings) -> list[Check]:
        if not settings.slack_token_parameter:
            if settings.slack_webhook_parameter:
                _, problem = self._secret(settings.slack_webhook_parameter)
                if problem:
                    return [
                        Check(
                            False,
                            "Slack webhook",
                            problem,
                            f"store the webhook URL in {settings.slack_webhook_parameter}",
                        )
                    ]
                return [
                    Check(
                        True,
                        "Slack webhook",
                        "stored; a webhook posts to its own channel, channels not checked",
                    )
                ]
            return [
                Check(
                    False,
                    "Slack",
                    "no token or webhook configured: failures reach no one",
                    "set SlackTokenParameter in samconfig.toml and deploy",
                )
            ]
        token, problem = self._secret(settings.slack_token_parameter)
        if token is None:
            return [
                Check(
                    False,
                    "Slack token",
                    problem,
                    f"store the bot token (xoxb-...) in {settings.slack_token_parameter}",
                )
            ]
        channels = sorted(
            {
                settings.slack_default_channel,
                self.jobs.defaults.slack_channel,
                *(j.slack_channel for j in self.jobs.jobs),
            }
        )
        return slack_checks(token, settings.slack_token_parameter, settings.slack_api_url or None, channels)

    # -- Datadog
    def datadog(self, settings: Settings) -> Check:

        reference, site = settings.datadog_api_key_parameter, settings.datadog_site
        if not reference:
            return Check(True, "Datadog", "not configured (DatadogApiKeyParameter is empty)")
        key, problem = self._secret(reference)
        if key is None:
            return Check(False, "Datadog API key", problem, f"store the API key in {reference}")
        config = Configuration(host=settings.datadog_api_url or None)  # type: ignore[no-untyped-call]
        if not settings.datadog_api_url:
            config.server_variables["site"] = site
        config.api_key["apiKeyAuth"] = key
        try:
            with ApiClient(config) as client:
                AuthenticationApi(client).validate()  # type: ignore[no-untyped-call]
        except ApiException as e:
            return Check(
                False,
                "Datadog API key",
                f"the key in {reference} is refused on {site} (HTTP {e.status})",
                f"store an API key of the {site} organisation in {reference}, or set DatadogSite to its site",
            )
        except (OSError, ValueError) as e:
            return Check(
                False, "Datadog API key", f"cannot reach {site}: {e}", "set DatadogSite to a Datadog site"
            )
        return Check(True, "Datadog API key", f"valid on {site}")

    # -- CloudTrail
    def cloudtrail(self, failed_launches_watched: bool) -> Check:
        if not failed_launches_watched:
            return Check(
                True, "CloudTrail", "not needed: failed launches are not watched (WatchFailedLaunches)"
            )
        client = self.clients("cloudtrail")
        trails = client.describe_trails(includeShadowTrails=True).get("trailList", [])
        recording = [
            t["Name"]
            for t in trails
            if (t.get("IsMultiRegionTrail") or t.get("HomeRegion") == self.region)
            and client.get_trail_status(Name=t["TrailARN"]).get("IsLogging")
            and records_management_writes(client.get_event_selectors(TrailName=t["TrailARN"]))
        ]
        if recording:
            return Check(
                True, "CloudTrail", f"trail {recording[0]} records management events in {self.region}"
            )
        return Check(
            False,
            "CloudTrail",
            f"no logging trail records management events in {self.region}: failed launches go unseen",
            "aws cloudtrail create-trail --name ecswatch --s3-bucket-name BUCKET --is-multi-region-trail "
            "&& aws cloudtrail start-logging --name ecswatch",
        )

    # -- the retry launcher's permissions
    def launcher(self, function: Resource | None) -> list[Check]:
        launching = [j for j in self.jobs.jobs if j.retry.attempts > 1 or j.launch is not None]
        if not launching:
            return [Check(True, "launcher", "no job retries or is started by a chain")]
        if function is None:
            return [Check(False, "launcher", f"no {LAUNCHER_FUNCTION} in the stack", "redeploy the stack")]
        try:
            role = str(
                self.clients("lambda").get_function_configuration(FunctionName=function.physical)["Role"]
            )
        except ClientError as e:
            return [
                Check(
                    False,
                    "launcher",
                    f"cannot read its role: {error_code(e)}",
                    "grant lambda:GetFunctionConfiguration",
                )
            ]
        return [
            self._guarded(
                f"launcher for {job.name}",
                "iam:SimulatePrincipalPolicy, ecs:DescribeTaskDefinition",
                partial(self._may_launch, role, job),
            )
            for job in launching
        ]

    def _may_launch(self, role: str, job: JobConfig) -> Check:
        name = f"launcher for {job.name}"
        families = self._task_definitions(job)
        if not families:
            return Check(
                False,
                name,
                f"no ACTIVE task definition matches {job.match.family!r}",
                "register it, or correct match.family",
            )
        denied: list[str] = []
        checked: list[str] = []
        ecs = self.clients("ecs")
        for family in families:
            definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            arn = str(definition["taskDefinitionArn"])
            checked.append(family_of(arn) + ":" + arn.rsplit(":", 1)[-1])
            if not self._allowed(role, "ecs:RunTask", arn):
                denied.append(f"ecs:RunTask on {arn}")
            for key in ("taskRoleArn", "executionRoleArn"):
                passed = definition.get(key)
                if passed and not self._allowed(role, "iam:PassRole", str(passed)):
                    denied.append(f"iam:PassRole on {passed}")
        if denied:
            return Check(
                False,
                name,
                "denied " + "; ".join(denied),
                "add the family to RetryTaskDefinitionFamilies and the roles to RetryPassRoleArns "
                "(samconfig.toml parameter_overrides), then sam deploy",
            )
        return Check(True, name, f"may run {', '.join(checked)} and pass its roles")

    def _task_definitions(self, job: JobConfig) -> list[str]:
        """What the launcher may start for the job: its launch's task definition, else the ACTIVE
        families its match.family names (a glob is matched against ListTaskDefinitionFamilies)."""
        if job.launch is not None:  # family, family:revision or ARN: what a chained run starts
            return [job.launch.task_definition]
        pattern = job.match.family
        if not any(c in pattern for c in "*?["):
            return [pattern]
        prefix = pattern.split("*")[0].split("?")[0].split("[")[0]
        found: list[str] = []
        request: dict[str, Any] = {"status": "ACTIVE", **({"familyPrefix": prefix} if prefix else {})}
        while True:
            page = self.clients("ecs").list_task_definition_families(**request)
            found += [f for f in page.get("families", []) if fnmatchcase(f, pattern)]
            if not page.get("nextToken"):
                return found
            request["nextToken"] = page["nextToken"]

    def _allowed(self, role: str, action: str, resource: str) -> bool:
        results = self.clients("iam").simulate_principal_policy(
            PolicySourceArn=role, ActionNames=[action], ResourceArns=[resource]
        )["EvaluationResults"]
        return bool(results) and all(r.get("EvalDecision") == "allowed" for r in results)

    # -- schedules
    def schedules(self) -> list[Check]:
        rows = job_view.job_rows(self.tasks(), self.jobs, None, self.now)
        checks = [
            Check(
                False,
                f"schedule of {r.job}",
                f"jobs.yaml says {r.config_schedule}, "
                + (
                    f"{r.source} {r.name} says {r.schedule} ({r.timezone})"
                    if r.source
                    else "no rule or schedule starts it"
                ),
                "make them agree in jobs.yaml, or drop its schedule: and let the watchdog read the rule's",
            )
            for r in rows
            if r.drift
        ]
        agreeing = sum(1 for r in rows if r.drift is False)
        return checks or [
            Check(
                True,
                "schedules",
                f"jobs.yaml's schedules agree with the rules and schedules ({agreeing} compared)",
            )
        ]


def records_management_writes(selectors: Mapping[str, Any]) -> bool:
    """Classic selectors: IncludeManagementEvents (default true) with ReadWriteType All or WriteOnly.
    Advanced: a selector on eventCategory Management that does not keep read-only events alone."""
    for selector in selectors.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") in (
            "All",
            "WriteOnly",
        ):
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in advanced.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        read_only = fields.get("readOnly", {})
        if "Management" in (category.get("Equals") or []) and "true" not in (read_only.get("Equals") or []):
            return True
    return False


def report_text(stack: str, checks: Sequence[Check]) -> str:
    failed = sum(1 for c in checks if not c.ok)
    verdict = "all passed" if not failed else f"{failed} failed"
    return "".join(f"{c.line}\n" for c in checks) + f"(stack {stack}: {len(checks)} checks, {verdict})\n"


def report_json(stack: str, checks: Sequence[Check]) -> str:
    return views.to_json(
        {
            "stack": stack,
            "ok": all(c.ok for c in checks),
            "checks": [
                {"ok": c.ok, "name": c.name, "detail": c.detail, "fix": c.fix or None} for c in checks
            ],
        }
    )
