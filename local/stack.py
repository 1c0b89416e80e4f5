"""The whole offline stack in one context manager: moto (seeded), state, secrets, fake Slack and Datadog.

It sets the same environment variables the SAM template sets in production,
pointing at local endpoints, so the handler builds its real adapters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

from local.aws import moto_server, seed_all
from local.fake_datadog import FakeDatadog
from local.fake_slack import FakeSlack

STATE_TABLE = "ecswatch-state"
SLACK_TOKEN = "xoxb-000000000000-0000000000000-demodemodemodemodemodemo"  # noqa: S105 (a fake for the fake)
SLACK_TOKEN_PARAMETER = "ssm:/ecswatch/slack-bot-token"  # noqa: S105 (a parameter name)
DATADOG_KEY = "0123456789abcdef0123456789abcdef"
DATADOG_KEY_PARAMETER = "secretsmanager:ecswatch/datadog"


@dataclass
class Stack:
    aws_endpoint: str
    slack: FakeSlack
    datadog: FakeDatadog


def create_state_table(name: str = STATE_TABLE) -> None:
    """The table as template.yaml declares it: pk/sk, gsi1, TTL on expires_at."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def store_secrets() -> None:
    boto3.client("ssm").put_parameter(
        Name=SLACK_TOKEN_PARAMETER.removeprefix("ssm:"), Value=SLACK_TOKEN, Type="SecureString"
    )
    boto3.client("secretsmanager").create_secret(
        Name=DATADOG_KEY_PARAMETER.removeprefix("secretsmanager:"),
        SecretString=json.dumps({"api_key": DATADOG_KEY}),
    )


@contextmanager
def offline_stack(*, seed: bool = True) -> Iterator[Stack]:
    slack = FakeSlack(valid_tokens={SLACK_TOKEN})
    datadog = FakeDatadog(api_keys={DATADOG_KEY})
    env = {
        "STATE_TABLE_NAME": STATE_TABLE,
        "SLACK_TOKEN_PARAMETER": SLACK_TOKEN_PARAMETER,
        "DATADOG_API_KEY_PARAMETER": DATADOG_KEY_PARAMETER,
        "SLACK_DEFAULT_CHANNEL": "#batch-alerts",
        "POWERTOOLS_SERVICE_NAME": "ecswatch",
        "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
    }
    with moto_server() as endpoint, slack.running(), datadog.running():
        saved = {k: os.environ.get(k) for k in (*env, "SLACK_API_URL", "DATADOG_API_URL")}
        os.environ.update(env)
        os.environ["SLACK_API_URL"] = slack.url + "/api/"
        os.environ["DATADOG_API_URL"] = datadog.url
        try:
            if seed:
                seed_all()
            create_state_table()
            store_secrets()
            yield Stack(aws_endpoint=endpoint, slack=slack, datadog=datadog)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
