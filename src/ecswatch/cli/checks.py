"""One result of `ecswatch doctor`: what was checked, what was found, and the fix when it failed."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL = "✔", "✘"


@dataclass(frozen=True)
class Check:
    ok: bool
    name: str
    detail: str
    fix: str = ""

    @property
    def line(self) -> str:
        """``✔ name: detail``, or ``✘ name: detail -> fix``: one line, whatever failed."""
        text = f"{PASS if self.ok else FAIL} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} -> {self.fix}"
