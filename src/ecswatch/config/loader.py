"""Reading and validating ``jobs.yaml``: every problem at once, with file, job and field.

The file (``src/ecswatch/config/jobs.yaml``, bundled with the functions by ``sam build``) is validated
in full before anything uses it. A config that
half-loads would send some failures to the wrong channel or retry something that must not be
retried, and nobody would notice until a bad night. So every problem is collected, with file,
job and field, and all of them are reported together in one :class:`ConfigError`. Unknown keys
are errors too: a misspelt ``atempts`` that is silently ignored looks exactly like a working
retry policy.

A job's ``retry`` keys override the ``defaults.retry`` keys one by one (``backoff`` key by key);
``evaluate_on_exit`` replaces the default list as a whole, because rules are read in order and
a merged list would have no obvious order.

Run ``python -m ecswatch.config src/ecswatch/config/jobs.yaml`` to check a file (CI does); it also
writes the compiled form the functions read (:mod:`ecswatch.config.compiled`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ecswatch.config.graph import chain_problems
from ecswatch.config.model import (
    CLUSTER_SHAPE,
    DEFAULT_SLACK_CHANNEL,
    MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    MAX_MULTIPLIER,
    MAX_OVERRIDES_CHARACTERS,
    MAX_PATTERN_LENGTH,
    TASK_DEFINITION_SHAPE,
    Backoff,
    CapacityProviderItem,
    ConfigError,
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
from ecswatch.events.schedule import ScheduleError, parse_schedule
from ecswatch.run import Outcome

_N = TypeVar("_N", int, float)


def load_config(path: str | Path) -> JobsConfig:
    """Read and validate a YAML config file; the path, as given, names the file in every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{source}: cannot read the file: {e.strerror or e}"]) from e
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader that also refuses duplicates
    except yaml.YAMLError as e:
        raise ConfigError([f"{source}: {_yaml_problem(e)}"]) from e
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            [f"{source}: (top level): must be a mapping with defaults and jobs, not {_shown(data)}"]
        )
    return parse_config(data, source)


def parse_config(data: Mapping[str, Any], source: str) -> JobsConfig:
    """Validate already-parsed config data; raise :class:`ConfigError` listing every problem."""
    check = _Checker(source)
    top = check.keys(data, "(top level)", ("defaults", "jobs"))
    defaults = _defaults(check, top.get("defaults"), "defaults")
    jobs = _jobs(check, top.get("jobs"), defaults)
    if check.problems:
        raise ConfigError(check.problems)
    return JobsConfig(source=source, defaults=defaults, jobs=jobs)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, except that a key given twice is an error.

    Plain YAML keeps the last of two equal keys: a job block copied and not renamed would silently
    replace the first job.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: construct_mapping reports it
        if duplicate:
            raise _DuplicateKey(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(error: yaml.YAMLError) -> str:
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"invalid YAML: {error}"
    mark = error.problem_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(error, _DuplicateKey):
        return f"{where}: {error.problem}"
    return f"{where}: invalid YAML: {error.problem}"


# --------------------------------------------------------------------------- checking


class _Checker:
    """Collects problems instead of stopping at the first; readers return a fallback after one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def keys(self, value: object, path: str, allowed: Collection[str] | None) -> Mapping[str, Any]:
        """The mapping at ``path`` with unknown keys reported (None allows any); ``{}`` if not a mapping."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping, not {_shown(value)}")
            return {}
        for key in value:
            if allowed is not None and key not in allowed:
                self.problem(_join(path, str(key)), _unknown_key(str(key), allowed))
        return value

    def text(self, node: Mapping[str, Any], key: str, path: str) -> str | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(_join(path, key), f"must be non-empty text, not {_shown(value)}")
            return None
        return value

    def required_text(self, node: Mapping[str, Any], key: str, path: str) -> str:
        if node.get(key) is None:
            self.problem(_join(path, key), "is required")
            return ""
        return self.text(node, key, path) or ""

    def pattern(self, node: Mapping[str, Any], key: str, path: str) -> str | None:
        value = self.text(node, key, path)
        if value is not None and len(value) > MAX_PATTERN_LENGTH:
            self.problem(_join(path, key), f"must be at most {MAX_PATTERN_LENGTH} characters long")
        return value

    def flag(self, node: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = node.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"must be true or false, not {_shown(value)}")
            return default
        return value

    def whole(
        self, node: Mapping[str, Any], key: str, path: str, limits: tuple[int, int], default: int
    ) -> int:
        value = node.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(_join(path, key), f"must be a whole number, not {_shown(value)}")
            return default
        return self._within(value, key, path, limits, default)

    def number(
        self, node: Mapping[str, Any], key: str, path: str, limits: tuple[float, float], default: float
    ) -> float:
        value = node.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(_join(path, key), f"must be a number, not {_shown(value)}")
            return default
        return self._within(float(value), key, path, limits, default)

    def _within(self, value: _N, key: str, path: str, limits: tuple[_N, _N], default: _N) -> _N:
        low, high = limits
        if not low <= value <= high:
            self.problem(_join(path, key), f"must be between {_num(low)} and {_num(high)}, not {_num(value)}")
            return default
        return value

    def items(self, node: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = node.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(_join(path, key), f"must be a list, not {_shown(value)}")
            return []
        return value


def _join(path: str, key: str) -> str:
    return key if path == "(top level)" else f"{path}.{key}"


def _unknown_key(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (allowed: {', '.join(sorted(allowed))})"


def _num(value: float) -> str:
    """12 -> "12", 2.0 -> "2", 0.5 -> "0.5": as a person would write it in the file."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _shown(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


# --------------------------------------------------------------------------- sections

_DEFAULTS_KEYS = ("slack_channel", "notify_on_success", "retry")
_JOB_KEYS = (
    "match",
    "slack_channel",
    "notify_on_success",
    "max_run_time",
    "stop_on_overrun",
    "max_start_time",
    "schedule",
    "retry",
    "log",
    "network",
    "slow_run",
    "on_success",
    "on_failure",
    "launch",
    "sidecars",
)
_MATCH_KEYS = ("family", "cluster", "group", "started_by")
_RETRY_KEYS = ("attempts", "evaluate_on_exit", "backoff")
_RULE_CONDITIONS = ("on_exit_code", "on_reason", "on_status_reason", "on_outcome")
_RULE_KEYS = ("action", *_RULE_CONDITIONS)
_BACKOFF_KEYS = ("base_seconds", "max_seconds", "multiplier", "jitter")
_LOG_KEYS = ("group", "stream_prefix", "region")
_NETWORK_KEYS = ("subnets", "security_groups", "assign_public_ip")
_SLOW_RUN_KEYS = ("factor", "notify_slack")
#: A factor of 1 would call half of all runs slow; above 100 the warning could never come.
SLOW_RUN_FACTOR_LIMITS = (1.0, 100.0)

_OUTCOMES = frozenset(outcome.value for outcome in Outcome)
_JITTERS = frozenset(jitter.value for jitter in Jitter)
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CHANNEL = re.compile(r"\S+")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNITS = (86_400, 3600, 60, 1)
_SCHEDULE = re.compile(r"(?:cron|rate)\(\s*\S.*\)", re.DOTALL)
_EXIT_CODE = re.compile(r"\d*\*?")
_SUBNET = re.compile(r"subnet-[0-9a-f]{8,17}")
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8,17}")


def _defaults(check: _Checker, raw: object, path: str) -> JobDefaults:
    node = check.keys(raw, path, _DEFAULTS_KEYS)
    return JobDefaults(
        slack_channel=_channel(check, node, path) or DEFAULT_SLACK_CHANNEL,
        notify_on_success=check.flag(node, "notify_on_success", path, default=False),
        retry=_retry(check, node.get("retry"), _join(path, "retry"), RetryPolicy()),
    )


def _jobs(check: _Checker, raw: object, defaults: JobDefaults) -> tuple[JobConfig, ...]:
    jobs: list[JobConfig] = []
    for name, spec in check.keys(raw, "jobs", None).items():
        path = f"jobs.{name}"
        if not isinstance(name, str) or not _JOB_NAME.fullmatch(name):
            check.problem(
                path, "a job name is letters, digits, '-', '_' and '.', and starts with a letter or digit"
            )
        jobs.append(_job(check, str(name), spec, path, defaults))
    _report_shadowed(check, jobs)
    for path, message in chain_problems(jobs):
        check.problem(path, message)
    return tuple(jobs)


def _job(check: _Checker, name: str, raw: object, path: str, defaults: JobDefaults) -> JobConfig:
    if not isinstance(raw, Mapping):
        check.problem(path, f"must be a mapping with at least match.family, not {_shown(raw)}")
        unusable = MatchRule(family="")
        return JobConfig(name, unusable, defaults.slack_channel, defaults.notify_on_success, defaults.retry)
    node = check.keys(raw, path, _JOB_KEYS)
    return JobConfig(
        name=name,
        match=_match(check, node.get("match"), _join(path, "match")),
        slack_channel=_channel(check, node, path) or defaults.slack_channel,
        notify_on_success=check.flag(node, "notify_on_success", path, default=defaults.notify_on_success),
        retry=_retry(check, node.get("retry"), _join(path, "retry"), defaults.retry),
        max_run_time_seconds=_duration(check, node, "max_run_time", path),
        stop_on_overrun=_stop_on_overrun(check, node, path),
        max_start_time_seconds=_duration(check, node, "max_start_time", path),
        schedule=_schedule(check, node, path),
        log=_log(check, node.get("log"), _join(path, "log")),
        network=_network(check, node.get("network"), _join(path, "network")),
        slow_run=_slow_run(check, node.get("slow_run"), _join(path, "slow_run")),
        on_success=_job_names(check, node, "on_success", path),
        on_failure=_job_names(check, node, "on_failure", path),
        launch=_launch(check, node.get("launch"), _join(path, "launch")),
        sidecars=_container_names(check, node, "sidecars", path),
    )


def _report_shadowed(check: _Checker, jobs: Sequence[JobConfig]) -> None:
    """Only the first of two jobs with the same match rules can ever match."""
    first: dict[MatchRule, str] = {}
    for job in jobs:
        if not job.match.family:
            continue  # already reported as missing
        if job.match in first:
            check.problem(
                f"jobs.{job.name}.match",
                f"never matches: jobs.{first[job.match]} has the same match rules and comes first",
            )
        first.setdefault(job.match, job.name)


def _channel(check: _Checker, node: Mapping[str, Any], path: str) -> str | None:
    value = check.text(node, "slack_channel", path)
    if value is not None and not _CHANNEL.fullmatch(value):
        check.problem(
            _join(path, "slack_channel"), f"must be a channel name or id without spaces, not {value!r}"
        )
        return None
    return value


def _match(check: _Checker, raw: object, path: str) -> MatchRule:
    if raw is None:
        check.problem(path, "is required (at least a family)")
        return MatchRule(family="")
    node = check.keys(raw, path, _MATCH_KEYS)
    if not isinstance(raw, Mapping):
        return MatchRule(family="")
    return MatchRule(
        family=check.required_text(node, "family", path),
        cluster=check.pattern(node, "cluster", path),
        group=check.pattern(node, "group", path),
        started_by=check.pattern(node, "started_by", path),
    )


def _duration(check: _Checker, node: Mapping[str, Any], key: str, path: str) -> int | None:
    value = node.get(key)
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        check.problem(
            _join(path, key), f"must be a duration like '2h', '90m', '45s' or '1h30m', not {_shown(value)}"
        )
    return seconds


def _stop_on_overrun(check: _Checker, node: Mapping[str, Any], path: str) -> bool:
    stop = check.flag(node, "stop_on_overrun", path, default=False)
    if stop and node.get("max_run_time") is None:
        check.problem(_join(path, "stop_on_overrun"), "needs max_run_time (the limit a run must exceed)")
    return stop


def parse_duration(value: object) -> int | None:
    """``"2h"``, ``"90m"``, ``"1h30m"``, ``"45s"``, ``"2d"`` -> seconds; None if not one, or zero."""
    if not isinstance(value, str):
        return None
    found = _DURATION.fullmatch(value.strip())
    if found is None:
        return None
    seconds = sum(
        int(part) * unit for part, unit in zip(found.groups(), _DURATION_UNITS, strict=True) if part
    )
    return seconds or None


def _schedule(check: _Checker, node: Mapping[str, Any], path: str) -> str | None:
    value = node.get("schedule")
    if value is None:
        return None
    if not isinstance(value, str) or not _SCHEDULE.fullmatch(value.strip()):
        check.problem(
            _join(path, "schedule"),
            f"must be cron(...) or rate(...) as EventBridge writes them, not {_shown(value)}",
        )
        return None
    try:
        parse_schedule(value)  # the watchdog evaluates it: a schedule AWS would refuse is an error here
    except ScheduleError as e:
        check.problem(_join(path, "schedule"), str(e))
        return None
    return value.strip()


def _retry(check: _Checker, raw: object, path: str, base: RetryPolicy) -> RetryPolicy:
    node = check.keys(raw, path, _RETRY_KEYS)
    rules = base.evaluate_on_exit
    if "evaluate_on_exit" in node:
        entries = check.items(node, "evaluate_on_exit", path)
        rules = tuple(_rule(check, entry, f"{path}.evaluate_on_exit[{i}]") for i, entry in enumerate(entries))
    return RetryPolicy(
        attempts=check.whole(node, "attempts", path, (1, MAX_ATTEMPTS), base.attempts),
        evaluate_on_exit=rules,
        backoff=_backoff(check, node.get("backoff"), _join(path, "backoff"), base.backoff),
    )


def _rule(check: _Checker, raw: object, path: str) -> ExitRule:
    node = check.keys(raw, path, _RULE_KEYS)
    if isinstance(raw, Mapping) and not any(node.get(key) is not None for key in _RULE_CONDITIONS):
        check.problem(
            path, f"needs at least one of {', '.join(_RULE_CONDITIONS)} (on_reason: '*' matches every stop)"
        )
    return ExitRule(
        action=_action(check, node, path),
        on_exit_code=_exit_code(check, node, path),
        on_reason=check.pattern(node, "on_reason", path),
        on_status_reason=check.pattern(node, "on_status_reason", path),
        on_outcome=_outcome(check, node, path),
    )


def _action(check: _Checker, node: Mapping[str, Any], path: str) -> RetryAction:
    value = node.get("action")
    if value is None:
        check.problem(_join(path, "action"), "is required (RETRY or EXIT)")
        return RetryAction.EXIT
    # AWS Batch reads the action case-insensitively; so do we.
    if isinstance(value, str) and value.upper() in RetryAction.__members__:
        return RetryAction(value.upper())
    check.problem(_join(path, "action"), f"must be RETRY or EXIT, not {_shown(value)}")
    return RetryAction.EXIT


def _exit_code(check: _Checker, node: Mapping[str, Any], path: str) -> str | None:
    """Digits with an optional trailing ``*``, as AWS Batch allows; a bare YAML number is fine too."""
    value = node.get("on_exit_code")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value and _EXIT_CODE.fullmatch(value):
        return value
    check.problem(
        _join(path, "on_exit_code"),
        f"must be digits with an optional trailing '*' (like '137' or '1*'), not {_shown(value)}",
    )
    return None


def _outcome(check: _Checker, node: Mapping[str, Any], path: str) -> Outcome | None:
    value = node.get("on_outcome")
    if value is None:
        return None
    if isinstance(value, str) and value in _OUTCOMES:
        return Outcome(value)
    names = ", ".join(outcome.value for outcome in Outcome)
    check.problem(_join(path, "on_outcome"), f"must be one of {names}, not {_shown(value)}")
    return None


def _backoff(check: _Checker, raw: object, path: str, base: Backoff) -> Backoff:
    node = check.keys(raw, path, _BACKOFF_KEYS)
    seconds = (1, MAX_BACKOFF_SECONDS)
    backoff = Backoff(
        base_seconds=check.whole(node, "base_seconds", path, seconds, base.base_seconds),
        max_seconds=check.whole(node, "max_seconds", path, seconds, base.max_seconds),
        multiplier=check.number(node, "multiplier", path, (1.0, MAX_MULTIPLIER), base.multiplier),
        jitter=_jitter(check, node, path, base.jitter),
    )
    if backoff.base_seconds > backoff.max_seconds:
        check.problem(
            _join(path, "base_seconds"),
            f"must not exceed max_seconds ({backoff.base_seconds} > {backoff.max_seconds})",
        )
    return backoff


def _jitter(check: _Checker, node: Mapping[str, Any], path: str, default: Jitter) -> Jitter:
    value = node.get("jitter")
    if value is None:
        return default
    if isinstance(value, str) and value in _JITTERS:
        return Jitter(value)
    check.problem(_join(path, "jitter"), f"must be full or none, not {_shown(value)}")
    return default


def _log(check: _Checker, raw: object, path: str) -> LogOverride | None:
    if raw is None:
        return None
    node = check.keys(raw, path, _LOG_KEYS)
    if not isinstance(raw, Mapping):
        return None
    return LogOverride(
        group=check.required_text(node, "group", path),
        stream_prefix=check.required_text(node, "stream_prefix", path),
        region=check.text(node, "region", path),
    )


def _network(check: _Checker, raw: object, path: str) -> NetworkConfig | None:
    if raw is None:
        return None
    node = check.keys(raw, path, _NETWORK_KEYS)
    if not isinstance(raw, Mapping):
        return None
    if not node.get("subnets"):
        check.problem(_join(path, "subnets"), "is required (RunTask needs at least one subnet)")
    return NetworkConfig(
        subnets=_ids(check, node, "subnets", path, shape=_SUBNET, example="subnet-0123456789abcdef0"),
        security_groups=_ids(
            check, node, "security_groups", path, shape=_SECURITY_GROUP, example="sg-0123456789abcdef0"
        ),
        assign_public_ip=check.flag(node, "assign_public_ip", path, default=False),
    )


def _slow_run(check: _Checker, raw: object, path: str) -> SlowRunConfig:
    node = check.keys(raw, path, _SLOW_RUN_KEYS)
    base = SlowRunConfig()
    return SlowRunConfig(
        factor=check.number(node, "factor", path, SLOW_RUN_FACTOR_LIMITS, base.factor),
        notify_slack=check.flag(node, "notify_slack", path, default=base.notify_slack),
    )


def _ids(
    check: _Checker, node: Mapping[str, Any], key: str, path: str, *, shape: re.Pattern[str], example: str
) -> tuple[str, ...]:
    found: list[str] = []
    for i, value in enumerate(check.items(node, key, path)):
        if isinstance(value, str) and shape.fullmatch(value):
            found.append(value)
        else:
            check.problem(f"{_join(path, key)}[{i}]", f"must look like {example}, not {_shown(value)}")
    return tuple(found)


# --------------------------------------------------------------------------- dependency chains

_LAUNCH_KEYS = (
    "task_definition",
    "cluster",
    "launch_type",
    "capacity_provider_strategy",
    "platform_version",
    "group",
    "container_overrides",
    "propagate_tags",
)
_CAPACITY_PROVIDER_KEYS = ("capacity_provider", "weight", "base")
_CONTAINER_OVERRIDE_KEYS = ("command", "environment")
_LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL")
#: RunTask also knows SERVICE, which it refuses for a task no service started.
_PROPAGATE_TAGS = ("TASK_DEFINITION", "NONE")
#: RunTask's limits on a capacity provider strategy.
_MAX_STRATEGY_ITEMS = 20
_WEIGHT_LIMITS = (0, 1000)
_BASE_LIMITS = (0, 100_000)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _job_names(check: _Checker, node: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    """``on_success``/``on_failure``: a list of job names, each once; whether they exist is checked later."""
    names: list[str] = []
    for i, value in enumerate(check.items(node, key, path)):
        where = f"{_join(path, key)}[{i}]"
        if not isinstance(value, str) or not value.strip():
            check.problem(where, f"must be a job name, not {_shown(value)}")
        elif value in names:
            check.problem(where, f"{value!r} is listed twice")
        else:
            names.append(value)
    return tuple(names)


#: A container name as ECS allows it: up to 255 letters, digits, hyphens and underscores.
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def _container_names(check: _Checker, node: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    """``sidecars``: container names as the task definition spells them, each once."""
    names: list[str] = []
    for i, value in enumerate(check.items(node, key, path)):
        where = f"{_join(path, key)}[{i}]"
        if not isinstance(value, str) or not _CONTAINER_NAME.fullmatch(value):
            check.problem(where, f"must be a container name (letters, digits, '-', '_'), not {_shown(value)}")
        elif value in names:
            check.problem(where, f"{value!r} is listed twice")
        else:
            names.append(value)
    return tuple(names)


def _launch(check: _Checker, raw: object, path: str) -> LaunchConfig | None:
    if raw is None:
        return None
    node = check.keys(raw, path, _LAUNCH_KEYS)
    if not isinstance(raw, Mapping):
        return None
    launch = LaunchConfig(
        task_definition=_shaped(
            check,
            node,
            "task_definition",
            path,
            shape=TASK_DEFINITION_SHAPE,
            what="a family or family:revision",
        ),
        cluster=_shaped(check, node, "cluster", path, shape=CLUSTER_SHAPE, what="a cluster name or ARN"),
        launch_type=_choice(check, node, "launch_type", path, allowed=_LAUNCH_TYPES, default=None),
        capacity_provider_strategy=_strategy(check, node, path),
        platform_version=check.text(node, "platform_version", path),
        group=check.text(node, "group", path),
        container_overrides=_container_overrides(check, node.get("container_overrides"), path),
        propagate_tags=_choice(
            check, node, "propagate_tags", path, allowed=_PROPAGATE_TAGS, default="TASK_DEFINITION"
        ),
    )
    if launch.launch_type and launch.capacity_provider_strategy:
        check.problem(
            _join(path, "capacity_provider_strategy"),
            "give launch_type or capacity_provider_strategy, not both (RunTask refuses both)",
        )
    if launch.platform_version and not launch.is_fargate:
        check.problem(
            _join(path, "platform_version"),
            "is for Fargate only: give launch_type FARGATE or a FARGATE/FARGATE_SPOT capacity provider",
        )
    overrides = launch.run_task_overrides()
    if len(json.dumps(overrides, separators=(",", ":"))) > MAX_OVERRIDES_CHARACTERS:
        check.problem(
            _join(path, "container_overrides"),
            f"come to more than RunTask's {MAX_OVERRIDES_CHARACTERS} characters of overrides",
        )
    return launch


def _shaped(
    check: _Checker, node: Mapping[str, Any], key: str, path: str, *, shape: re.Pattern[str], what: str
) -> str:
    value = check.required_text(node, key, path)
    if value and not shape.fullmatch(value):
        check.problem(_join(path, key), f"must be {what}, not {value!r}")
    return value


def _choice(
    check: _Checker,
    node: Mapping[str, Any],
    key: str,
    path: str,
    *,
    allowed: Sequence[str],
    default: str | None,
) -> Any:
    value = node.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value in allowed:
        return value
    check.problem(_join(path, key), f"must be one of {', '.join(allowed)}, not {_shown(value)}")
    return default


def _strategy(check: _Checker, node: Mapping[str, Any], path: str) -> tuple[CapacityProviderItem, ...]:
    key = "capacity_provider_strategy"
    entries = check.items(node, key, path)
    if len(entries) > _MAX_STRATEGY_ITEMS:
        check.problem(_join(path, key), f"may name at most {_MAX_STRATEGY_ITEMS} capacity providers")
    items: list[CapacityProviderItem] = []
    for i, raw in enumerate(entries):
        where = f"{_join(path, key)}[{i}]"
        item = check.keys(raw, where, _CAPACITY_PROVIDER_KEYS)
        if not isinstance(raw, Mapping):
            continue
        items.append(
            CapacityProviderItem(
                capacity_provider=check.required_text(item, "capacity_provider", where),
                weight=check.whole(item, "weight", where, _WEIGHT_LIMITS, 1),
                base=check.whole(item, "base", where, _BASE_LIMITS, 0),
            )
        )
    if items and not any(item.weight > 0 for item in items):
        check.problem(_join(path, key), "needs a capacity provider with a weight above 0")
    return tuple(items)


def _container_overrides(check: _Checker, raw: object, path: str) -> tuple[ContainerOverride, ...]:
    """``{container name: {command: [...], environment: {NAME: value}}}``; anything fancier belongs in
    a task definition revision."""
    where = _join(path, "container_overrides")
    overrides: list[ContainerOverride] = []
    for name, spec in check.keys(raw, where, None).items():
        at = f"{where}.{name}"
        node = check.keys(spec, at, _CONTAINER_OVERRIDE_KEYS)
        if not isinstance(spec, Mapping):
            continue
        command = None
        if node.get("command") is not None:
            parts = check.items(node, "command", at)
            if not all(isinstance(part, str) for part in parts):
                check.problem(_join(at, "command"), "must be a list of texts (quote numbers)")
            command = tuple(str(part) for part in parts)
        overrides.append(
            ContainerOverride(name=str(name), command=command, environment=_environment(check, node, at))
        )
    return tuple(overrides)


def _environment(check: _Checker, node: Mapping[str, Any], path: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for name, value in check.keys(node.get("environment"), _join(path, "environment"), None).items():
        at = f"{_join(path, 'environment')}.{name}"
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            check.problem(
                at, "an environment variable name is letters, digits and '_', not starting with a digit"
            )
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            check.problem(at, f"must be text or a number (quote true/false), not {_shown(value)}")
        else:
            pairs.append((name, str(value)))
    return tuple(pairs)
