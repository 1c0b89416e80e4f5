"""The job config as the functions read it: validated when it is built, loaded without YAML.

``python -m ecswatch.config jobs.yaml`` validates the file in full (every field, each schedule
with the watchdog's cron engine, the chain graph) and writes ``jobs.compiled.json`` next to it:
the validated model as JSON, stamped with the SHA-256 of the YAML bytes it came from. The
compiled file is committed next to ``jobs.yaml``, so ``sam build`` (``CodeUri: src/``) and the
wheel ship both. A function's cold start reads it with :mod:`json`, which is imported anyway, and
so pays for no YAML parser, cron engine or graph walk.

The stamp keeps this honest. :func:`load_jobs` uses the compiled file only when it was compiled
from exactly the YAML beside it, in this module's format; otherwise (``jobs.yaml`` edited since,
no compiled file, as for a deployment's own ``JOBS_CONFIG_PATH``, or one this code cannot read) it
validates the YAML in full, as the loader always did. A stale compiled file therefore costs a cold
start time, never correctness. CI's ``python -m ecswatch.config --check`` and a test fail while
the committed file is out of date.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ecswatch.config.model import (
    Backoff,
    CapacityProviderItem,
    ContainerOverride,
    ExitRule,
    Jitter,
    JobConfig,
    JobDefaults,
    JobsConfig,
    LaunchConfig,
    LogOverride,
    MatchRule,
    NetworkConfig,
    RetryAction,
    RetryPolicy,
    SlowRunConfig,
)
from ecswatch.run import Outcome

#: Raised with every change to the model that the compiled form must follow.
FORMAT = 1
COMPILED_SUFFIX = ".compiled.json"


class StaleCompiledConfig(ValueError):
    """The compiled file does not hold what this code would read from its YAML."""


def compiled_path(source: str | Path) -> Path:
    """``jobs.yaml`` -> ``jobs.compiled.json``, in the same directory."""
    path = Path(source)
    return path.with_name(path.stem + COMPILED_SUFFIX)


def source_digest(yaml_bytes: bytes) -> str:
    return hashlib.sha256(yaml_bytes).hexdigest()


def compile_config(config: JobsConfig, yaml_bytes: bytes) -> str:
    """The compiled file's text for ``config``, validated from ``yaml_bytes``; stable, so diffs
    of the committed file show what changed."""
    payload = {
        "format": FORMAT,
        "source_sha256": source_digest(yaml_bytes),
        "defaults": msgspec.to_builtins(config.defaults),
        "jobs": [msgspec.to_builtins(job) for job in config.jobs],
    }
    return json.dumps(payload, indent=1, sort_keys=True) + "\n"


def load_jobs(path: str | Path) -> JobsConfig:
    """The job config at ``path`` (YAML): from its compiled form when that is in sync, else read and
    validated in full (a bad file raises ``ConfigError`` naming file, job and field)."""
    config = read_compiled(path)
    if config is not None:
        return config
    # The full validator, imported only now: YAML, the cron engine and the chain graph.
    from ecswatch.config.loader import load_config  # noqa: PLC0415

    return load_config(path)


def read_compiled(path: str | Path) -> JobsConfig | None:
    """The compiled form of the YAML file at ``path``, or None when there is none in sync with it."""
    try:
        yaml_bytes = Path(path).read_bytes()
        text = compiled_path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        return parse_compiled(json.loads(text), yaml_bytes, source=str(path))
    except (ValueError, TypeError, KeyError):  # stale, or not this model's shape
        return None


def parse_compiled(data: Any, yaml_bytes: bytes, *, source: str) -> JobsConfig:
    """The config a compiled payload holds; :class:`StaleCompiledConfig` when it was compiled from
    other YAML bytes or by other code (format), and ``KeyError``/``TypeError``/``ValueError`` when
    its shape is not this model's."""
    node = _node(data)
    if node.get("format") != FORMAT:
        raise StaleCompiledConfig(f"format {node.get('format')!r}, this code reads {FORMAT}")
    if node.get("source_sha256") != source_digest(yaml_bytes):
        raise StaleCompiledConfig("compiled from other YAML than the file beside it")
    _exact(node, {"format", "source_sha256", "defaults", "jobs"})
    return JobsConfig(
        source=source,
        defaults=_defaults(node["defaults"]),
        jobs=tuple(_job(job) for job in _list(node["jobs"])),
    )


# --------------------------------------------------------------------------- decoding, strictly
# Every value type's keys must be exactly its fields: a compiled file from an older or newer model
# is refused (and the YAML read instead) rather than read with a field silently defaulted.


def _node(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, not {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return value


def _exact(node: Mapping[str, Any], keys: set[str]) -> None:
    if set(node) != keys:
        raise StaleCompiledConfig(f"keys {sorted(set(node) ^ keys)} differ from the model's")


def _fields_of(cls: type, value: Any) -> Mapping[str, Any]:
    node = _node(value)
    _exact(node, {f.name for f in msgspec.structs.fields(cls)})
    return node


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in _list(value))


def _defaults(value: Any) -> JobDefaults:
    node = _fields_of(JobDefaults, value)
    return JobDefaults(
        slack_channel=node["slack_channel"],
        notify_on_success=node["notify_on_success"],
        retry=_retry(node["retry"]),
    )


def _job(value: Any) -> JobConfig:
    node = _fields_of(JobConfig, value)
    return JobConfig(
        name=node["name"],
        match=MatchRule(**_fields_of(MatchRule, node["match"])),
        slack_channel=node["slack_channel"],
        notify_on_success=node["notify_on_success"],
        retry=_retry(node["retry"]),
        max_run_time_seconds=node["max_run_time_seconds"],
        stop_on_overrun=node["stop_on_overrun"],
        max_start_time_seconds=node["max_start_time_seconds"],
        schedule=node["schedule"],
        log=None if node["log"] is None else LogOverride(**_fields_of(LogOverride, node["log"])),
        network=None if node["network"] is None else _network(node["network"]),
        slow_run=SlowRunConfig(**_fields_of(SlowRunConfig, node["slow_run"])),
        on_success=_texts(node["on_success"]),
        on_failure=_texts(node["on_failure"]),
        launch=None if node["launch"] is None else _launch(node["launch"]),
        sidecars=_texts(node["sidecars"]),
        configured=node["configured"],
    )


def _retry(value: Any) -> RetryPolicy:
    node = _fields_of(RetryPolicy, value)
    backoff = _fields_of(Backoff, node["backoff"])
    return RetryPolicy(
        attempts=node["attempts"],
        evaluate_on_exit=tuple(_rule(rule) for rule in _list(node["evaluate_on_exit"])),
        backoff=Backoff(
            base_seconds=backoff["base_seconds"],
            max_seconds=backoff["max_seconds"],
            multiplier=backoff["multiplier"],
            jitter=Jitter(backoff["jitter"]),
        ),
    )


def _rule(value: Any) -> ExitRule:
    node = _fields_of(ExitRule, value)
    outcome = node["on_outcome"]
    return ExitRule(
        action=RetryAction(node["action"]),
        on_exit_code=node["on_exit_code"],
        on_reason=node["on_reason"],
        on_status_reason=node["on_status_reason"],
        on_outcome=None if outcome is None else Outcome(outcome),
    )


def _network(value: Any) -> NetworkConfig:
    node = _fields_of(NetworkConfig, value)
    return NetworkConfig(
        subnets=_texts(node["subnets"]),
        security_groups=_texts(node["security_groups"]),
        assign_public_ip=node["assign_public_ip"],
    )


def _launch(value: Any) -> LaunchConfig:
    node = _fields_of(LaunchConfig, value)
    return LaunchConfig(
        task_definition=node["task_definition"],
        cluster=node["cluster"],
        launch_type=node["launch_type"],
        capacity_provider_strategy=tuple(
            CapacityProviderItem(**_fields_of(CapacityProviderItem, item))
            for item in _list(node["capacity_provider_strategy"])
        ),
        platform_version=node["platform_version"],
        group=node["group"],
        container_overrides=tuple(_container(item) for item in _list(node["container_overrides"])),
        propagate_tags=node["propagate_tags"],
    )


def _container(value: Any) -> ContainerOverride:
    node = _fields_of(ContainerOverride, value)
    command = node["command"]
    return ContainerOverride(
        name=node["name"],
        command=None if command is None else _texts(command),
        environment=tuple((str(k), str(v)) for k, v in _list(node["environment"])),
    )
