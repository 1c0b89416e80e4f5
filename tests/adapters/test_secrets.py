"""Secret references resolved through Powertools Parameters, against moto (stubbed clients for errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from ecswatch.adapters.secrets import SecretError, resolve_secret, secret_provider
from ecswatch.errors import TransientError

pytestmark = pytest.mark.offline

REGION = "eu-west-1"
DD_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Powertools keeps values and clients in module globals; every test starts and ends empty."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "ssm": boto3.client("ssm", region_name=REGION),
            "secretsmanager": boto3.client("secretsmanager", region_name=REGION),
        }


def stub_failure(service: str, code: str, status: int) -> None:
    """Install a Powertools provider whose client answers every call with one AWS error."""
    client = boto3.client(service, region_name=REGION)
    stubber = Stubber(client)
    operation = "get_parameter" if service == "ssm" else "get_secret_value"
    for _ in range(3):
        stubber.add_client_error(operation, service_error_code=code, http_status_code=status)
    stubber.activate()
    if service == "ssm":
        DEFAULT_PROVIDERS["ssm"] = parameters.SSMProvider(boto3_client=client)
    else:
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=client)


# -- values


def test_an_ssm_securestring_is_returned_decrypted(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/ecswatch/datadog-api-key", Value=DD_KEY, Type="SecureString")

    assert resolve_secret("ssm:/ecswatch/datadog-api-key", max_age=300) == DD_KEY


def test_a_plain_secrets_manager_string_is_returned_as_is(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name="ecswatch/slack-bot-token", SecretString="xoxb-1-2-abc")

    assert resolve_secret("secretsmanager:ecswatch/slack-bot-token", max_age=300) == "xoxb-1-2-abc"


def test_a_secret_is_found_by_its_arn(aws: dict[str, Any]) -> None:
    arn = aws["secretsmanager"].create_secret(Name="ecswatch/dd", SecretString=DD_KEY)["ARN"]

    assert resolve_secret(f"secretsmanager:{arn}", max_age=300) == DD_KEY


def test_a_json_secret_with_one_key_gives_that_value(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name="ecswatch/dd", SecretString=json.dumps({"DD_API_KEY": DD_KEY}))

    assert resolve_secret("secretsmanager:ecswatch/dd", max_age=300) == DD_KEY


def test_a_json_secret_with_several_keys_gives_the_known_one(aws: dict[str, Any]) -> None:
    webhook = "https://hooks.slack.com/services/T000/B000/XXXX"
    value = json.dumps({"channel": "#batch-alerts", "webhook_url": webhook})
    aws["secretsmanager"].create_secret(Name="ecswatch/slack", SecretString=value)

    assert resolve_secret("secretsmanager:ecswatch/slack", max_age=300) == webhook


def test_a_json_secret_without_a_known_key_names_its_keys_but_not_its_values(aws: dict[str, Any]) -> None:
    value = json.dumps({"user": "svc-ecswatch", "password": "hunter2"})
    aws["secretsmanager"].create_secret(Name="ecswatch/db", SecretString=value)

    with pytest.raises(SecretError) as failure:
        resolve_secret("secretsmanager:ecswatch/db", max_age=300)

    assert "secretsmanager:ecswatch/db" in str(failure.value)
    assert "password" in str(failure.value)
    assert "hunter2" not in str(failure.value)
    assert "svc-ecswatch" not in str(failure.value)


def test_a_trailing_newline_pasted_with_the_value_is_dropped(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value=DD_KEY + "\n", Type="SecureString")

    assert resolve_secret("ssm:/ecswatch/dd", max_age=300) == DD_KEY


# -- caching and laziness


def test_a_second_call_within_max_age_is_served_from_the_cache(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value="old-key", Type="SecureString")
    resolve_secret("ssm:/ecswatch/dd", max_age=300)
    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value="rotated-key", Type="SecureString", Overwrite=True)

    assert resolve_secret("ssm:/ecswatch/dd", max_age=300) == "old-key"


def test_a_value_older_than_max_age_is_fetched_again(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name="ecswatch/dd", SecretString="old-key")
    resolve_secret("secretsmanager:ecswatch/dd", max_age=0)
    aws["secretsmanager"].put_secret_value(SecretId="ecswatch/dd", SecretString="rotated-key")

    assert resolve_secret("secretsmanager:ecswatch/dd", max_age=0) == "rotated-key"


def test_a_provider_fetches_nothing_until_it_is_called(aws: dict[str, Any]) -> None:
    provider = secret_provider("ssm:/ecswatch/dd", 300)
    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value=DD_KEY, Type="SecureString")

    assert provider() == DD_KEY


def test_a_provider_shows_its_reference_and_never_its_value(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value=DD_KEY, Type="SecureString")
    provider = secret_provider("ssm:/ecswatch/dd", 300)
    provider()

    assert "ssm:/ecswatch/dd" in repr(provider)
    assert DD_KEY not in repr(provider)


# -- errors


def test_a_missing_parameter_is_a_secret_error_naming_the_reference(aws: dict[str, Any]) -> None:
    with pytest.raises(SecretError, match="ssm:/ecswatch/missing") as failure:
        resolve_secret("ssm:/ecswatch/missing", max_age=300)

    assert "ParameterNotFound" in str(failure.value)


def test_a_missing_secret_is_a_secret_error_naming_the_reference(aws: dict[str, Any]) -> None:
    with pytest.raises(SecretError, match="secretsmanager:ecswatch/missing") as failure:
        resolve_secret("secretsmanager:ecswatch/missing", max_age=300)

    assert "ResourceNotFoundException" in str(failure.value)


@pytest.mark.parametrize("reference", ["/ecswatch/dd", "vault:ecswatch/dd", "ssm:", "secretsmanager:  "])
def test_a_malformed_reference_is_refused_before_any_aws_call(reference: str) -> None:
    with pytest.raises(SecretError):
        secret_provider(reference, 300)


def test_access_denied_is_a_secret_error() -> None:
    stub_failure("ssm", "AccessDeniedException", 400)

    with pytest.raises(SecretError, match=r"ssm:/ecswatch/dd: access denied"):
        resolve_secret("ssm:/ecswatch/dd", max_age=300)


def test_a_secret_that_cannot_be_decrypted_is_a_secret_error() -> None:
    stub_failure("secretsmanager", "DecryptionFailure", 400)

    with pytest.raises(SecretError, match="DecryptionFailure"):
        resolve_secret("secretsmanager:ecswatch/dd", max_age=300)


@pytest.mark.parametrize(
    ("service", "reference", "code", "status"),
    [
        ("ssm", "ssm:/ecswatch/dd", "ThrottlingException", 400),
        ("ssm", "ssm:/ecswatch/dd", "InternalServerError", 500),
        ("secretsmanager", "secretsmanager:ecswatch/dd", "InternalServiceError", 500),
    ],
)
def test_throttling_and_server_errors_are_transient(
    service: str, reference: str, code: str, status: int
) -> None:
    stub_failure(service, code, status)

    with pytest.raises(TransientError, match=code):
        resolve_secret(reference, max_age=300)


def test_an_unreachable_endpoint_is_transient() -> None:
    client = boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=0.5),
    )
    DEFAULT_PROVIDERS["ssm"] = parameters.SSMProvider(boto3_client=client)

    with pytest.raises(TransientError, match=r"ssm:/ecswatch/dd: EndpointConnectionError"):
        resolve_secret("ssm:/ecswatch/dd", max_age=300)


# -- one boto3 session per container


def test_the_functions_read_secrets_on_the_session_their_other_clients_use(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools' default providers each open a boto3 Session of their own, which loads botocore's
    endpoint data again (~40 ms of a cold start per store); the functions' stores use the one
    session of their ClientCache."""
    from ecswatch.adapters.aws.clients import ClientCache
    from ecswatch.adapters.secrets import SecretStores

    aws["ssm"].put_parameter(Name="/ecswatch/slack-token", Value="xoxb-1-2-abc", Type="SecureString")
    aws["secretsmanager"].create_secret(Name="ecswatch/dd", SecretString=DD_KEY)
    sessions: list[object] = []
    original = boto3.session.Session.__init__

    def counted(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counted)
    clients = ClientCache()
    clients.get("ecs")  # the client every task event needs first
    stores = SecretStores(clients.get)

    token = secret_provider("ssm:/ecswatch/slack-token", 300, stores)
    api_key = secret_provider("secretsmanager:ecswatch/dd", 300, stores)

    assert (token(), api_key()) == ("xoxb-1-2-abc", DD_KEY)
    assert len(sessions) == 1
    assert len(clients) == 3  # ecs, ssm, secretsmanager


def test_the_stores_keep_a_value_for_its_max_age(aws: dict[str, Any]) -> None:
    from ecswatch.adapters.aws.clients import ClientCache
    from ecswatch.adapters.secrets import SecretStores

    aws["ssm"].put_parameter(Name="/ecswatch/dd", Value="old-key", Type="SecureString")
    aws["ssm"].put_parameter(Name="/ecswatch/rotates", Value="old-key", Type="SecureString")
    stores = SecretStores(ClientCache().get)
    assert resolve_secret("ssm:/ecswatch/dd", max_age=300, stores=stores) == "old-key"
    assert resolve_secret("ssm:/ecswatch/rotates", max_age=0, stores=stores) == "old-key"
    for name in ("/ecswatch/dd", "/ecswatch/rotates"):
        aws["ssm"].put_parameter(Name=name, Value="new-key", Type="SecureString", Overwrite=True)

    assert resolve_secret("ssm:/ecswatch/dd", max_age=300, stores=stores) == "old-key"
    assert resolve_secret("ssm:/ecswatch/rotates", max_age=0, stores=stores) == "new-key"
