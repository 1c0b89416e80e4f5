"""The failures the domain and the adapters speak of, and what each means for the SQS message.

Adapters translate SDK and HTTP errors into these (``raise ... from e``); the handlers turn them
into batch item failures (redelivered, then dead-lettered), never into a lost message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


class TransientError(Exception):
    """An outside system failed in a way that may pass (throttling, 5xx, timeout): redeliver the message."""


class LaunchNotStarted(TransientError):
    """RunTask itself failed for a passing reason (throttling, no capacity): the task was not started."""


class DeliveryError(Exception):
    """An outside system refused for a reason that will not pass by itself (bad token, unknown channel).

    The item still fails, so nothing is lost and it ends in the dead-letter queue, but it will not
    pass until the configuration is fixed; the message names what to fix.
    """
