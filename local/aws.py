"""Moto in server mode, and the seed data that makes the sample events resolvable.

Server mode (rather than in-process mocks) means boto3 speaks real HTTP to a
local endpoint, exactly as it would to AWS; AWS_ENDPOINT_URL points it there.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SEED = EVENTS / "seed"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@contextmanager
def moto_server(server_class: type[ThreadedMotoServer] = ThreadedMotoServer) -> Iterator[str]:
    """Start moto on a free loopback port; point every boto3 client at it for the duration."""
    server = server_class(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in (*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE")}
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        try:  # moto's backends are global to the process: empty them, so the next server starts clean
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # noqa: S310
        finally:
            server.stop()


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


def seed_task_definitions(seed_file: Path = SEED / "task-definitions.json") -> list[str]:
    """Register each seeded definition until the revision the sample events name exists."""
    arns = []
    for item in json.loads(seed_file.read_text()):
        spec = dict(item)
        revision = int(spec.pop("revision"))
        region = spec.pop("region", None) or _region_of(spec)
        ecs = boto3.client("ecs", region_name=region)
        arn = ""
        for _ in range(revision):
            arn = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
        arns.append(arn)
    return arns


def seed_logs(seed_file: Path = SEED / "log-events.json", *, end_ms: int | None = None) -> int:
    """Create groups and streams and write each stream's lines, one millisecond apart."""
    written = 0
    data: Mapping[str, Mapping[str, Mapping[str, list[str]]]] = json.loads(seed_file.read_text())
    for region, groups in data.items():
        logs = boto3.client("logs", region_name=region)
        for group, streams in groups.items():
            _ignore_exists(logs.create_log_group, logGroupName=group)
            for stream, lines in streams.items():
                _ignore_exists(logs.create_log_stream, logGroupName=group, logStreamName=stream)
                # CloudWatch Logs (and moto) reject events older than 14 days: write them as recent.
                start = (end_ms or int(time.time() * 1000)) - len(lines)
                events: list[InputLogEventTypeDef] = [
                    {"timestamp": start + i, "message": line} for i, line in enumerate(lines)
                ]
                if events:
                    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
                written += len(events)
    return written


def seed_all() -> None:
    seed_task_definitions()
    seed_logs()


def _region_of(spec: Mapping[str, Any]) -> str:
    for container in spec.get("containerDefinitions", []):
        options = (container.get("logConfiguration") or {}).get("options") or {}
        region = options.get("awslogs-region") or options.get("region")
        if region:
            return str(region)
    return FAKE_CREDENTIALS["AWS_DEFAULT_REGION"]


def _ignore_exists(call: Any, **kwargs: str) -> None:
    try:
        call(**kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
