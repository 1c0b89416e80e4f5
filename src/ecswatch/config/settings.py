"""All configuration read from the environment, in one place, once.

Each field documents its variable, type and default. Secrets are never values
here: only the *names* of the SSM parameters or Secrets Manager secrets that
hold them (``ssm:/path`` or ``secretsmanager:name-or-arn``), resolved later
through Powertools Parameters with a cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

#: Shipped next to the code (``ecswatch/config/jobs.yaml``) so ``sam build`` bundles it with the functions.
BUNDLED_JOBS_CONFIG = Path(__file__).resolve().parent / "jobs.yaml"


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


class Settings(msgspec.Struct, frozen=True):
    #: WATCH_CLUSTERS — comma-separated cluster names or ARNs to watch; empty watches every cluster.
    watch_clusters: frozenset[str] = frozenset()
    #: INCLUDE_SERVICE_TASKS — also report tasks of ECS services (group "service:..."); default false.
    include_service_tasks: bool = False
    #: LOG_TAIL_LINES — how many log lines to fetch for a failed run; 0 disables the tail; default 30.
    log_tail_lines: int = 30
    #: LOG_TAIL_MAX_BYTES — byte budget of the tail after redaction (fits a Slack code block); default 2800.
    log_tail_max_bytes: int = 2800
    #: STATE_TABLE_NAME — DynamoDB table for run state, dedupe and lineage; empty disables state.
    state_table_name: str = ""
    #: DATADOG_SITE — datadoghq.com, datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com ...
    datadog_site: str = "datadoghq.com"
    #: DATADOG_API_KEY_PARAMETER — ssm:/name or secretsmanager:name of the Datadog API key; empty disables.
    datadog_api_key_parameter: str = ""
    #: SLACK_TOKEN_PARAMETER — ssm:/name or secretsmanager:name of a Slack bot token (xoxb-...).
    slack_token_parameter: str = ""
    #: SLACK_WEBHOOK_PARAMETER — ssm:/name or secretsmanager:name of an incoming webhook URL
    #: (used when there is no token).
    slack_webhook_parameter: str = ""
    #: SLACK_DEFAULT_CHANNEL — channel for jobs that name none; default "#batch-alerts".
    slack_default_channel: str = "#batch-alerts"
    #: STORM_WINDOW_SECONDS — failures of one job within this window share one Slack alert; default 300.
    storm_window_seconds: int = 300
    #: SLACK_API_URL — Slack Web API base URL; only for local endpoints (demo, tests). Default: Slack's.
    slack_api_url: str = ""
    #: DATADOG_API_URL — Datadog API host; only for local endpoints. Default derived from DATADOG_SITE.
    datadog_api_url: str = ""
    #: RETRY_QUEUE_URL / RETRY_QUEUE_ARN — the retry launcher's queue; empty disables automatic retries.
    retry_queue_url: str = ""
    retry_queue_arn: str = ""
    #: RETRY_SCHEDULER_ROLE_ARN — role EventBridge Scheduler assumes for retries delayed over 15 minutes.
    retry_scheduler_role_arn: str = ""
    #: RETRY_DLQ_ARN — where a retry schedule's request goes if Scheduler cannot deliver it.
    retry_dlq_arn: str = ""
    #: RETRY_MAX_RECEIVES — the retry queue's maxReceiveCount: on that receive the launcher gives up
    #: on a RunTask that keeps failing for a passing reason, alerts, and lets the request go to the DLQ.
    retry_max_receives: int = 5
    #: JOBS_CONFIG_PATH — the job configuration; default the jobs.yaml bundled with the code.
    jobs_config_path: str = str(BUNDLED_JOBS_CONFIG)
    #: SECRETS_MAX_AGE_SECONDS — how long fetched secrets are cached in the container; default 300.
    secrets_max_age_seconds: int = 300
    #: WATCHDOG_STUCK_START_SECONDS — the watchdog alerts about a task still PROVISIONING/PENDING after
    #: this long (a job's max_start_time overrides it); default 600.
    watchdog_stuck_start_seconds: int = 600
    #: WATCHDOG_MISSED_RUN_GRACE_SECONDS — how late a scheduled run may start before the watchdog calls
    #: it missed (covers EventBridge's delay and ECS's start); default 600.
    watchdog_missed_run_grace_seconds: int = 600
    #: HISTORY_RETENTION_DAYS — how long run history is kept (DynamoDB TTL); default 90.
    history_retention_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            watch_clusters=frozenset(_csv(env.get("WATCH_CLUSTERS", ""))),
            include_service_tasks=_bool(env, "INCLUDE_SERVICE_TASKS", default=False),
            log_tail_lines=_int(env, "LOG_TAIL_LINES", 30, low=0, high=10_000),
            log_tail_max_bytes=_int(env, "LOG_TAIL_MAX_BYTES", 2800, low=200, high=1_000_000),
            state_table_name=env.get("STATE_TABLE_NAME", "").strip(),
            datadog_site=env.get("DATADOG_SITE", "").strip() or "datadoghq.com",
            datadog_api_key_parameter=env.get("DATADOG_API_KEY_PARAMETER", "").strip(),
            slack_token_parameter=env.get("SLACK_TOKEN_PARAMETER", "").strip(),
            slack_webhook_parameter=env.get("SLACK_WEBHOOK_PARAMETER", "").strip(),
            slack_default_channel=env.get("SLACK_DEFAULT_CHANNEL", "").strip() or "#batch-alerts",
            slack_api_url=env.get("SLACK_API_URL", "").strip(),
            datadog_api_url=env.get("DATADOG_API_URL", "").strip(),
            retry_queue_url=env.get("RETRY_QUEUE_URL", "").strip(),
            retry_queue_arn=env.get("RETRY_QUEUE_ARN", "").strip(),
            retry_scheduler_role_arn=env.get("RETRY_SCHEDULER_ROLE_ARN", "").strip(),
            retry_dlq_arn=env.get("RETRY_DLQ_ARN", "").strip(),
            retry_max_receives=_int(env, "RETRY_MAX_RECEIVES", 5, low=1, high=1000),
            jobs_config_path=env.get("JOBS_CONFIG_PATH", "").strip() or str(BUNDLED_JOBS_CONFIG),
            storm_window_seconds=_int(env, "STORM_WINDOW_SECONDS", 300, low=0, high=86_400),
            secrets_max_age_seconds=_int(env, "SECRETS_MAX_AGE_SECONDS", 300, low=0, high=86_400),
            watchdog_stuck_start_seconds=_int(env, "WATCHDOG_STUCK_START_SECONDS", 600, low=60, high=86_400),
            watchdog_missed_run_grace_seconds=_int(
                env, "WATCHDOG_MISSED_RUN_GRACE_SECONDS", 600, low=0, high=86_400
            ),
            history_retention_days=_int(env, "HISTORY_RETENTION_DAYS", 90, low=1, high=3650),
        )

    def watches(self, cluster: str) -> bool:
        """A cluster is watched by name or by ARN; an empty list watches all."""
        if not self.watch_clusters:
            return True
        return cluster in self.watch_clusters or any(
            w.rsplit("/", 1)[-1] == cluster for w in self.watch_clusters
        )


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from e
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value
