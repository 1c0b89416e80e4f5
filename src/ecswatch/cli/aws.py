"""The CLI's AWS calls, with the errors people meet turned into one clear line each.

Credentials, profile and region follow the AWS CLI exactly, because they come from the same
place: ``boto3.Session(profile_name=--profile, region_name=--region)`` reads AWS_PROFILE,
AWS_REGION / AWS_DEFAULT_REGION, ~/.aws/config and credentials, SSO and AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

#: GetLogEvents returns at most 10,000 events (or 1 MB) per call.
LOG_PAGE_LIMIT = 10_000
#: A runaway guard for --all: 1,000 pages is up to 10 million lines.
MAX_LOG_PAGES = 1_000


class CliError(Exception):
    """Something the user can fix; printed as one line, exit status 1, never a traceback."""


def session(profile: str | None, region: str | None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as e:
        raise CliError(f"AWS profile {profile!r} not found in ~/.aws/config or ~/.aws/credentials") from e


def require_credentials(aws: boto3.Session) -> None:
    try:
        found = aws.get_credentials()
    except BotoCoreError as e:
        raise CliError(f"AWS credentials cannot be loaded: {e}") from e
    if found is None:
        raise CliError(
            "no AWS credentials found: use --profile or AWS_PROFILE, `aws sso login`, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, as for the AWS CLI"
        )


def require_region(aws: boto3.Session) -> str:
    if not aws.region_name:
        raise CliError("no AWS region: use --region, AWS_REGION or the profile's region, as for the AWS CLI")
    return str(aws.region_name)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def stack_outputs(client: Any, stack: str) -> Mapping[str, str]:
    """The outputs of the deployed ecswatch stack (StateTableName, RetryLauncherFunctionName)."""
    try:
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as e:
        if error_code(e) == "ValidationError":
            raise CliError(f"CloudFormation stack {stack!r} not found in this region") from e
        raise CliError(f"cannot read stack {stack!r}: {error_code(e)}: {e}") from e
    except BotoCoreError as e:
        raise CliError(f"cannot read stack {stack!r}: {e}") from e
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


# --------------------------------------------------------------------------- logs


def read_log(client: Any, group: str, stream: str, *, tail: int | None) -> list[str]:
    """The stream's messages, oldest first: the newest ``tail`` of them, or all (``tail`` None).

    The tail is read backwards from the end (``startFromHead=False``, then ``nextBackwardToken``);
    the whole stream forwards from the start until GetLogEvents hands back the token it was given,
    which is how it says the end was reached.
    """
    try:
        return (
            _read_tail(client, group, stream, tail) if tail is not None else _read_all(client, group, stream)
        )
    except ClientError as e:
        code = error_code(e)
        if code == "ResourceNotFoundException":
            raise CliError(f"log stream {group} / {stream} not found (expired, or never written)") from e
        if code in {"AccessDeniedException", "AccessDenied"}:
            raise CliError(f"not allowed to read {group} ({code}); grant logs:GetLogEvents") from e
        raise CliError(f"GetLogEvents {group} / {stream}: {code}: {e}") from e
    except BotoCoreError as e:
        raise CliError(f"GetLogEvents {group} / {stream}: {e}") from e


def _read_tail(client: Any, group: str, stream: str, tail: int) -> list[str]:
    lines: list[str] = []
    token: str | None = None
    while len(lines) < tail:
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": False,
            "limit": min(LOG_PAGE_LIMIT, tail - len(lines)),
        }
        if token:
            request["nextToken"] = token
        response = client.get_log_events(**request)
        events = response.get("events", [])
        lines = [_message(e) for e in events] + lines
        following = response.get("nextBackwardToken")
        if not events or not following or following == token:
            break
        token = following
    return lines[-tail:] if tail else []


def _read_all(client: Any, group: str, stream: str) -> list[str]:
    lines: list[str] = []
    token: str | None = None
    for _ in range(MAX_LOG_PAGES):
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
            "limit": LOG_PAGE_LIMIT,
        }
        if token:
            request["nextToken"] = token
        response = client.get_log_events(**request)
        lines += [_message(e) for e in response.get("events", [])]
        following = response.get("nextForwardToken")
        if not following or following == token:
            break
        token = following
    return lines


def _message(event: Mapping[str, Any]) -> str:
    return str(event.get("message", "")).rstrip("\n")


# --------------------------------------------------------------------------- retry


def invoke_retry(client: Any, function: str, task_arn: str) -> dict[str, Any]:
    """The retry launcher's manual path: ``{"retry_task_arn": ...}``, answered synchronously."""
    try:
        response = client.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps({"retry_task_arn": task_arn}).encode(),
        )
    except ClientError as e:
        code = error_code(e)
        if code == "ResourceNotFoundException":
            raise CliError(f"function {function!r} not found in this region (see --function, --stack)") from e
        raise CliError(f"cannot invoke {function!r}: {code}: {e}") from e
    except BotoCoreError as e:
        raise CliError(f"cannot invoke {function!r}: {e}") from e
    body = response["Payload"].read()
    try:
        payload = json.loads(body) if body else {}
    except ValueError as e:
        raise CliError(f"{function!r} answered something that is not JSON: {body[:200]!r}") from e
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else None
        raise CliError(f"the retry launcher failed: {message or body.decode(errors='replace')[:300]}")
    if not isinstance(payload, dict):
        raise CliError(f"{function!r} answered {payload!r}, not an object")
    return payload
