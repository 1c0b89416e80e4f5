"""The outside world as the domain sees it: small Protocols, implemented in ``common.adapters``.

The domain takes these as arguments, so its tests pass plain fakes and the
handlers pass adapters built once per Lambda container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from common.taskdef import TaskDefinition

if TYPE_CHECKING:
    from common.pipeline import RunReport


class TransientError(Exception):
    """An outside system failed in a way that may pass (throttling, 5xx, timeout): redeliver the message."""


@dataclass(frozen=True)
class LogTail:
    """The last lines of a container's log, already redacted and cut to size; or a note saying why not."""

    lines: tuple[str, ...] = ()
    note: str | None = None
    truncated: bool = False


class TaskDefinitions(Protocol):
    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        """The task definition, or None when it no longer exists or cannot be read (noted in logs)."""
        ...


class LogReader(Protocol):
    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        """The newest ``lines`` raw lines of a stream; a missing stream or denied access gives a note."""
        ...


class RunSink(Protocol):
    """Somewhere a run report goes: a log line, metrics, Datadog, Slack."""

    def publish(self, report: RunReport) -> None: ...
