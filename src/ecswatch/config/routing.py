"""Where a job's notifications go: a value shared by the job config and the notifier.

Kept apart so that config (which the pipeline uses to name jobs) and notify
(which uses the pipeline) never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Routing:
    channel: str
    notify_success: bool = False
