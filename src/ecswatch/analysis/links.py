"""Console deep links for one ECS task: the task, its task definition, and the deciding container's log.

An on-call person should reach the evidence in one click, so every link here is
built from the event and the task definition alone (no AWS calls), and when the
log cannot be located the reason is kept as one human line instead of a dead link.

URL formats, and where they were checked (the console formats are undocumented,
so they follow what the console itself produces):

* ECS (new console): ``/ecs/v2/clusters/{cluster}/tasks/{task_id}/configuration?region=R`` and
  ``/ecs/v2/task-definitions/{family}/{revision}/containers?region=R`` -- the same paths appear in
  many public tools that link to the console (e.g. GitHub Actions printing the new revision's URL).
* CloudWatch log events: ``/cloudwatch/home?region=R#logsV2:log-groups/log-group/{G}/log-events/{S}``
  where G and S are URI-encoded twice and every ``%`` is then written ``$``
  (``/ecs/job`` -> ``$252Fecs$252Fjob``). Source: Stack Overflow "Is there a way to generate the AWS
  Console URLs for CloudWatch Log Group filters?" (answers decoding ``$252F``/``$255B``/``$2524``).
* Logs Insights: ``#logsV2:logs-insights`` followed by ``?queryDetail=<JSURL>``, encoded like this
  (Stack Overflow "Generate AWS Logs Insights URL with query and search criteria", and the
  ``naomichi-y/cloudwatch-insights-url-builder`` gem, and a real console URL quoted there):

  1. the query detail object is written in JSURL (Sage/jsurl): ``~(key~value~key~value)``, strings
     as ``'`` + value, arrays as ``~(~'a~'b)``, booleans as ``false``;
  2. inside a string, every character outside ``[A-Za-z0-9_.-]`` becomes ``*xx`` (lowercase hex of
     the UTF-16 code unit) or ``**xxxx`` above 0xFF, and ``$`` becomes ``!`` -- JSURL's own string
     encoding, which is what the console emits (``20*3a59*3a59.000Z``, ``*2faws*2flambda``) and what
     its parser reads back; a plain ``%XX`` scheme with ``%`` -> ``*`` agrees for ASCII but the parser
     would turn the UTF-8 bytes of a non-ASCII character into several wrong characters;
  3. the JSURL text goes through JavaScript ``escape()`` (``~ ( ) '`` -> ``%7E %28 %29 %27``),
     ``?queryDetail=`` is prepended, the whole is ``encodeURIComponent``-ed once more and every
     ``%`` is written ``$``. The result reads ``$3FqueryDetail$3D$257E$2528end$257E$2527...``,
     exactly as in the console's own URLs.

  Keys are in the console's order: end, start, timeType, tz, editorString, isLiveTail, source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from ecswatch.events.task import TaskEvent
from ecswatch.events.taskdef import ContainerDefinition, TaskDefinition
from ecswatch.events.vocabulary import FARGATE_CAPACITY_PROVIDERS, console_base
from ecswatch.run import Links, LogLocation

LOG_WINDOW_PADDING = timedelta(minutes=5)
INSIGHTS_LIMIT = 1000

_FIRELENS_CLOUDWATCH_PLUGINS = frozenset({"cloudwatch_logs", "cloudwatch"})
_JS_URI_COMPONENT_SAFE = "!~*'()"  # what encodeURIComponent leaves alone besides [A-Za-z0-9_.-]
_BYTE_LIMIT = 0x100
_JSURL_SPECIAL = re.compile(r"[^A-Za-z0-9_.\-]")
_JS_ESCAPE_SPECIAL = re.compile(r"[^A-Za-z0-9@*_+\-./]")


def build_links(
    event: TaskEvent,
    container_name: str | None,
    taskdef: TaskDefinition | None,
    *,
    override: LogLocation | None = None,
) -> Links:
    """All links for one task; a job's configured log location beats what the task definition implies."""
    region = event.task.region
    task = ecs_task_url(region, event.task.cluster or "default", event.task.task_id)
    definition = task_definition_url(region, event.task_definition.family, event.task_definition.revision)
    location: LogLocation | str
    if container_name is not None and _never_started(event, container_name):
        location = f"container '{container_name}' never started, so it wrote no log"
    elif override is not None:
        location = override
    elif container_name is None:
        location = "no container decides this task's outcome"
    else:
        location = locate_log(event, container_name, taskdef)
    if isinstance(location, str):
        return Links(task, definition, None, None, location, None)
    return Links(
        task=task,
        task_definition=definition,
        log_stream=log_events_url(location.region, location.group, location.stream),
        logs_insights=_insights_for(event, location),
        log_missing_reason=None,
        log_location=location,
    )


def _never_started(event: TaskEvent, container_name: str) -> bool:
    """ECS created no container (image pull, secrets, ENI failures): no runtime id and no exit code.

    Such a container has no log stream, so a link to one would open an empty page at 3 a.m.
    A container that ran keeps its links even when the task's ``startedAt`` is missing.
    """
    container = event.container(container_name)
    return container is not None and container.runtime_id is None and container.exit_code is None


def locate_log(event: TaskEvent, container_name: str, taskdef: TaskDefinition | None) -> LogLocation | str:
    """The log location of that container, or a one-line human reason why it cannot be known."""
    if taskdef is None:
        return (
            f"task definition {event.task_definition.family_revision} could not be read "
            "(deleted or access denied); log location unknown"
        )
    definition = taskdef.container(container_name)
    if definition is None:
        return f"container '{container_name}' is not in task definition {taskdef.family}:{taskdef.revision}"
    if definition.log is None:
        return (
            f"container '{container_name}' has no logConfiguration in {taskdef.family}:{taskdef.revision}, "
            "so its output is not in CloudWatch Logs"
        )
    if definition.log.driver == "awslogs":
        return _awslogs_location(event, definition)
    if definition.log.driver == "awsfirelens":
        return _firelens_location(event, definition)
    return f"container '{container_name}' logs via {definition.log.driver}, not CloudWatch Logs"


def _awslogs_location(event: TaskEvent, definition: ContainerDefinition) -> LogLocation | str:
    """awslogs: the stream is prefix/container/task-id, or the Docker container id when there is no prefix."""
    name = definition.name
    options = definition.log.options if definition.log else {}
    group = options.get("awslogs-group")
    if not group:
        return f"container '{name}' uses awslogs without awslogs-group; log group unknown"
    region = options.get("awslogs-region") or event.task.region
    prefix = options.get("awslogs-stream-prefix")
    if prefix:
        return LogLocation(region, group, f"{prefix}/{name}/{event.task.task_id}")
    if _is_fargate(event):
        return (
            f"container '{name}' runs on Fargate with awslogs but no awslogs-stream-prefix "
            "(Fargate requires one); log stream unknown"
        )
    container = event.container(name)
    if container is None or not container.runtime_id:
        return (
            f"container '{name}' uses awslogs without a stream prefix, so its stream is the Docker "
            "container id, which this event does not carry (the container may never have started)"
        )
    return LogLocation(region, group, container.runtime_id)


def _firelens_location(event: TaskEvent, definition: ContainerDefinition) -> LogLocation | str:
    """FireLens: only its CloudWatch output plugins keep the log where a console link can reach it.

    Fluent Bit reads option keys case-insensitively, so they are matched that way here.
    """
    name = definition.name
    options = _lower_keys(definition.log.options if definition.log else {})
    plugin = options.get("name", "")
    if plugin.lower() in _FIRELENS_CLOUDWATCH_PLUGINS:
        return _firelens_cloudwatch_location(event, name, options)
    if not plugin:
        return (
            f"container '{name}' logs via FireLens routed by the log router's own config file; "
            "log location unknown"
        )
    return f"container '{name}' logs via FireLens to {plugin}, not CloudWatch Logs"


def _firelens_cloudwatch_location(
    event: TaskEvent, name: str, options: Mapping[str, str]
) -> LogLocation | str:
    """log_stream_name, or log_stream_prefix + the tag FireLens gives the container's records.

    FireLens tags them ``{container}-firelens-{task_id}``; both the C plugin (``cloudwatch_logs``)
    and the Go plugin (``cloudwatch``) name the stream prefix + tag.
    """
    templated = _templated_option(options)
    if templated:
        return f"container '{name}' logs via FireLens with {templated}, so the log location varies per record"
    group = options.get("log_group_name")
    if not group:
        return f"container '{name}' logs via FireLens to CloudWatch without log_group_name; log group unknown"
    region = options.get("region") or event.task.region
    if options.get("log_stream_name"):
        return LogLocation(region, group, options["log_stream_name"])
    if options.get("log_stream_prefix"):
        return LogLocation(
            region, group, options["log_stream_prefix"] + f"{name}-firelens-{event.task.task_id}"
        )
    return (
        f"container '{name}' logs via FireLens to CloudWatch without log_stream_name or "
        "log_stream_prefix; log stream unknown"
    )


def _templated_option(options: Mapping[str, str]) -> str | None:
    """Templates make the group or stream depend on each record's content, which we cannot know."""
    for key in ("log_group_template", "log_stream_template"):
        if options.get(key):
            return key
    for key in ("log_group_name", "log_stream_name", "log_stream_prefix"):
        if "$(" in options.get(key, ""):
            return f"a templated {key}"
    return None


def _lower_keys(options: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in options.items()}


def _is_fargate(event: TaskEvent) -> bool:
    return event.launch_type == "FARGATE" or event.capacity_provider in FARGATE_CAPACITY_PROVIDERS


def _insights_for(event: TaskEvent, location: LogLocation) -> str | None:
    window = _log_window(event)
    if window is None:
        return None
    start, end = window
    return logs_insights_url(
        location.region, location.group, insights_query_for_stream(location.stream), start, end
    )


def _log_window(event: TaskEvent) -> tuple[datetime, datetime] | None:
    """From just before the task was created to just after it stopped, padded for clock skew and flushing."""
    timeline = event.timeline
    start = _first(timeline.created, timeline.pull_started, timeline.started, event.event_time)
    end = _first(timeline.stopped, timeline.execution_stopped, timeline.stopping, event.event_time)
    if start is None or end is None:
        return None
    return start - LOG_WINDOW_PADDING, max(end, start) + LOG_WINDOW_PADDING


def _first(*values: datetime | None) -> datetime | None:
    return next((value for value in values if value is not None), None)


def ecs_task_url(region: str, cluster: str, task_id: str) -> str:
    return (
        f"{console_base(region)}/ecs/v2/clusters/{quote(cluster, safe='')}/tasks/{quote(task_id, safe='')}"
        f"/configuration?region={region}"
    )


def task_definition_url(region: str, family: str, revision: int) -> str:
    return (
        f"{console_base(region)}/ecs/v2/task-definitions/{quote(family, safe='')}/{revision}"
        f"/containers?region={region}"
    )


def log_events_url(region: str, group: str, stream: str) -> str:
    return (
        f"{console_base(region)}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"{console_fragment_encode(group)}/log-events/{console_fragment_encode(stream)}"
    )


def logs_insights_url(region: str, group: str, query: str, start: datetime, end: datetime) -> str:
    detail = _jsurl_object(
        (
            ("end", _jsurl_str(_iso_utc(end))),
            ("start", _jsurl_str(_iso_utc(start))),
            ("timeType", _jsurl_str("ABSOLUTE")),
            ("tz", _jsurl_str("UTC")),
            ("editorString", _jsurl_str(query)),
            ("isLiveTail", "~false"),
            ("source", "~(" + _jsurl_str(group) + ")"),
        )
    )
    fragment = quote("?queryDetail=" + _js_escape(detail), safe=_JS_URI_COMPONENT_SAFE).replace("%", "$")
    return f"{console_base(region)}/cloudwatch/home?region={region}#logsV2:logs-insights{fragment}"


def insights_query_for_stream(stream: str) -> str:
    """Newest first, one stream only: the question on call is 'what did this container say last?'."""
    literal = stream.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f"fields @timestamp, @message | filter @logStream = '{literal}' "
        f"| sort @timestamp desc | limit {INSIGHTS_LIMIT}"
    )


def console_fragment_encode(value: str) -> str:
    """The console's path-in-fragment encoding: URI-encode twice, then write ``%`` as ``$``."""
    return quote(quote(value, safe=""), safe="").replace("%", "$")


def console_fragment_decode(value: str) -> str:
    return unquote(unquote(value.replace("$", "%")))


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsurl_object(items: tuple[tuple[str, str], ...]) -> str:
    return "~(" + "~".join(_jsurl_escape(key) + value for key, value in items) + ")"


def _jsurl_str(value: str) -> str:
    return "~'" + _jsurl_escape(value)


def _jsurl_escape(value: str) -> str:
    """JSURL's string encoding, over UTF-16 code units as in JavaScript (so astral characters are pairs).

    A regex substitution touches only the characters that need escaping: most of
    a query is plain, and this runs for every run report (it was the hot spot).
    """
    return _JSURL_SPECIAL.sub(_jsurl_replace, value)


def _jsurl_replace(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "$":
        return "!"
    code = ord(char)
    if code < _BYTE_LIMIT:
        return f"*{code:02x}"
    units = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"**{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def _js_escape(value: str) -> str:
    """JavaScript ``escape()`` for the ASCII that JSURL emits: Python's quote() would keep ``~``."""
    return _JS_ESCAPE_SPECIAL.sub(lambda m: f"%{ord(m.group(0)):02X}", value)
