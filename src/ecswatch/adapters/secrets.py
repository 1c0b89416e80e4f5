"""Secrets named in settings (``ssm:/path`` or ``secretsmanager:name-or-arn``), fetched late and cached.

Settings hold only the *name* of a secret. The value is fetched the first time
an adapter needs it (never at import or construction, so a cold start with
Datadog or Slack switched off costs no AWS call) and Powertools Parameters keeps
it for ``max_age`` seconds, so a rotated key is picked up without a redeploy.

The functions read through :class:`SecretStores`: Powertools' providers on the boto3 session
every other adapter uses. Powertools' module-level ``get_parameter``/``get_secret`` would build
each provider on a boto3 Session of its own, and a new session loads botocore's endpoint data
again: measured here, a client on a new session costs ~55 ms of a cold start, one on the shared
session ~15 ms, so an alert whose Slack token is in SSM and Datadog key in Secrets Manager
starts ~80 ms sooner.

Errors name the reference, never the value. "Not there" and "not allowed" are
:class:`SecretError` (permanent until someone fixes the configuration);
throttling, 5xx and network trouble are :class:`TransientError` so SQS redelivers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ecswatch.errors import TransientError

SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"

#: Keys looked for, in this order, when a Secrets Manager secret is a JSON object with several keys.
SECRET_JSON_KEYS = ("api_key", "token", "url", "webhook_url")

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)
_HINTS = {
    "ParameterNotFound": "the parameter does not exist (check the name and the region)",
    "ResourceNotFoundException": "the secret does not exist (check the name and the region)",
    "AccessDeniedException": "access denied (grant ssm:GetParameter / secretsmanager:GetSecretValue and "
    "kms:Decrypt on the key)",
    "AccessDenied": "access denied (grant read access and kms:Decrypt)",
    "DecryptionFailure": "the secret cannot be decrypted with its KMS key",
    "InvalidRequestException": "the secret cannot be read now (scheduled for deletion?)",
}


class SecretError(Exception):
    """A secret reference that cannot be resolved until someone fixes the configuration.

    The message names the reference (``ssm:/ecswatch/datadog-api-key``) and the AWS
    error code, never the value.
    """

    def __init__(self, reference: str, problem: str) -> None:
        super().__init__(f"secret {reference}: {problem}")
        self.reference = reference
        self.problem = problem


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference: which store, and the name (or ARN) inside it."""

    store: str  # "ssm" | "secretsmanager"
    name: str

    @property
    def reference(self) -> str:
        return f"{self.store}:{self.name}"


def parse_reference(reference: str) -> SecretRef:
    """Check the shape of a reference without calling AWS, so a typo shows at start-up."""
    ref = reference.strip()
    for prefix, store in ((SSM_PREFIX, "ssm"), (SECRETS_MANAGER_PREFIX, "secretsmanager")):
        if ref.startswith(prefix):
            name = ref[len(prefix) :].strip()
            if not name:
                raise SecretError(reference, f"no name after {prefix!r}")
            return SecretRef(store, name)
    raise SecretError(
        reference, "unknown kind of reference; expected ssm:/name or secretsmanager:name-or-arn"
    )


class SecretStores:
    """Powertools' SSM and Secrets Manager providers, each built on first use from ``client``
    (service name -> boto3 client, e.g. :meth:`ClientCache.get`), and caching what they fetch."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._ssm: SSMProvider | None = None
        self._secrets: SecretsProvider | None = None

    def parameter(self, name: str, *, max_age: int) -> object:
        with self._lock:
            if self._ssm is None:
                self._ssm = SSMProvider(boto3_client=self._client("ssm"))
            ssm = self._ssm
        return ssm.get(name, max_age=max_age, decrypt=True)

    def secret(self, name: str, *, max_age: int) -> object:
        with self._lock:
            if self._secrets is None:
                self._secrets = SecretsProvider(boto3_client=self._client("secretsmanager"))
            secrets = self._secrets
        return secrets.get(name, max_age=max_age)


def resolve_secret(reference: str, *, max_age: int, stores: SecretStores | None = None) -> str:
    """The secret's value, from the provider's cache when it is younger than ``max_age`` seconds.

    Without ``stores`` (the CLI, which makes one call), Powertools' own default providers are used.
    """
    ref = parse_reference(reference)
    if ref.store == "ssm":
        raw = _fetch(
            ref,
            lambda: (
                stores.parameter(ref.name, max_age=max_age)
                if stores is not None
                else parameters.get_parameter(ref.name, decrypt=True, max_age=max_age)
            ),
        )
        return _non_empty(ref, _as_text(ref, raw))
    raw = _fetch(
        ref,
        lambda: (
            stores.secret(ref.name, max_age=max_age)
            if stores is not None
            else parameters.get_secret(ref.name, max_age=max_age)
        ),
    )
    return _non_empty(ref, _single_value(ref, _as_text(ref, raw)))


@dataclass(frozen=True)
class SecretProvider:
    """A callable that resolves one reference on each call (cached by Powertools).

    Its repr shows the reference only, so it can sit in logged objects safely.
    """

    reference: str
    max_age: int
    stores: SecretStores | None = None

    def __call__(self) -> str:
        return resolve_secret(self.reference, max_age=self.max_age, stores=self.stores)

    def __repr__(self) -> str:
        return f"SecretProvider({self.reference!r}, max_age={self.max_age})"


def secret_provider(reference: str, max_age: int, stores: SecretStores | None = None) -> SecretProvider:
    """A lazy provider: the reference is checked now (no AWS call), the value fetched on first call."""
    parse_reference(reference)
    return SecretProvider(reference.strip(), max_age, stores)


def _fetch(ref: SecretRef, get: Callable[[], object]) -> object:
    try:
        return get()
    except GetParameterError as e:
        # Powertools wraps every failure in GetParameterError (implicitly chained), so the
        # AWS error is the context of the wrapper, not its message.
        raise _translate(ref, e.__cause__ or e.__context__) from e


def _translate(ref: SecretRef, cause: BaseException | None) -> Exception:
    if isinstance(cause, ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientError(f"secret {ref.reference}: {code or status} (will be retried)")
        return SecretError(ref.reference, f"{_HINTS.get(code, 'cannot be read')} ({code or status})")
    if isinstance(cause, NoCredentialsError | NoRegionError):
        return SecretError(ref.reference, f"AWS is not configured ({type(cause).__name__})")
    if isinstance(cause, BotoCoreError):
        return TransientError(f"secret {ref.reference}: {type(cause).__name__} (will be retried)")
    return SecretError(ref.reference, f"cannot be read ({type(cause).__name__})")


def _as_text(ref: SecretRef, raw: object) -> str:
    if isinstance(raw, bytes):  # a Secrets Manager SecretBinary
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SecretError(ref.reference, "binary secret is not UTF-8 text") from e
    if isinstance(raw, str):
        return raw
    raise SecretError(ref.reference, f"unexpected value type {type(raw).__name__}")


def _single_value(ref: SecretRef, text: str) -> str:
    """Secrets Manager's console stores key/value secrets as a JSON object; take the one value we want."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text  # a plain string that happens to start with "{"
    if not isinstance(data, dict):
        return text
    key = next((k for k in SECRET_JSON_KEYS if k in data), None)
    if key is None and len(data) == 1:
        key = next(iter(data))
    if key is None:
        raise SecretError(
            ref.reference,
            f"JSON secret has keys {sorted(data)}; expected a single key or one of {list(SECRET_JSON_KEYS)}",
        )
    value = data[key]
    if not isinstance(value, str):
        raise SecretError(ref.reference, f"JSON key {key!r} is not a string")
    return value


def _non_empty(ref: SecretRef, value: str) -> str:
    # Values pasted into the console often carry a trailing newline; keys and URLs never contain spaces.
    value = value.strip()
    if not value:
        raise SecretError(ref.reference, "the value is empty")
    return value
