"""Where a job's notifications go: a value shared by the job config and the notifier.

Kept apart so that config (which the pipeline uses to name jobs) and notify
(which uses the pipeline) never import each other.
"""

from __future__ import annotations

import msgspec


class Routing(msgspec.Struct, frozen=True):
    channel: str
    notify_success: bool = False
