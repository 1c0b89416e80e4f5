"""The Lambda bundle is built from a lock: src/requirements.txt pins every package with hashes.

``sam build`` installs src/requirements.txt, so what reaches Lambda is exactly what was locked; the
lock is compiled from src/requirements.in by scripts/lock.sh. These specifications hold the two
files together without a network: every direct requirement is pinned inside its range, every pin
carries hashes (pip then refuses a file it has not seen), and botocore's own limits hold.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+) \\$")


def _pins() -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, hashes) from the lock's ``name==version \\`` / ``--hash=...`` blocks."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in (ROOT / "src" / "requirements.txt").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match["name"])
            pins[current] = (Version(match["version"]), [])
        elif (stripped := line.strip()).startswith("--hash=sha256:") and current is not None:
            pins[current][1].append(stripped.removesuffix(" \\"))
    return pins


def _direct() -> list[Requirement]:
    lines = (ROOT / "src" / "requirements.in").read_text().splitlines()
    return [Requirement(line) for line in (raw.split("#", 1)[0].strip() for raw in lines) if line]


def test_every_direct_requirement_is_locked_inside_its_range() -> None:
    pins = _pins()
    for requirement in _direct():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in src/requirements.txt: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{name}=={pins[name][0]} is outside {requirement.specifier}: run scripts/lock.sh"
        )


def test_every_locked_package_carries_hashes() -> None:
    pins = _pins()
    assert len(pins) > len(_direct()), "the lock pins the transitive packages too"
    assert all(hashes for _, hashes in pins.values()), [name for name, (_, h) in pins.items() if not h]


def test_the_bundle_keeps_botocores_python_dateutil_limit() -> None:
    version, _ = _pins()["python-dateutil"]

    assert version < Version("3.0.0")


def test_boto3_is_left_to_the_lambda_runtime() -> None:
    assert {"boto3", "botocore"}.isdisjoint(_pins())
