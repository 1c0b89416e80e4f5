"""The documents point at things that exist.

Every path that ``README.md``, ``CONTRIBUTING.md``, ``CHANGELOG.md`` and ``docs/*.md`` name — in
backticks, in a fenced code block or as a link — must exist in the repository (or, for the
architecture's package-relative names such as ``adapters/factory.py``, in ``src/ecswatch/``), and
none may point outside the repository: a clone is all a reader has. A file moved without its
documents breaks this test, not the reader's trust.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "ecswatch"
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")]
)

INLINE_CODE = re.compile(r"`([^`\n]+)`")
FENCED_BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Code blocks of commands; a block without a language is a picture (the layout tree), not paths.
SHELL = {"bash", "sh", "console", "shell"}
#: In a command line, a path names a file (``events/stopped-oom.json``) or a directory (``events/``).
FILE_OR_DIR = re.compile(r"(\.\w+|/)$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: Placeholders, URLs, ARNs, secret references, globs, shell variables: not paths of this repository.
NOT_A_PATH = re.compile(r"[<>{}$*?:=|\\]|^[/~-]|^\.venv/|^\.aws-sam/")
#: Made by tools, not in a clone.
GENERATED = (".venv", ".aws-sam", "bench/results")


def _words(text: str) -> list[str]:
    return [w.lstrip("\"'@([").rstrip("\"',.;:)]") for w in text.split()]


def named_paths(markdown: str) -> set[str]:
    """The relative paths a document names: words with a ``/`` in inline code and code blocks,
    and every link target that is not a URL or an anchor."""
    commands = [body for language, body in FENCED_BLOCK.findall(markdown) if language.strip() in SHELL]
    prose = FENCED_BLOCK.sub("", markdown)
    words = [w for span in INLINE_CODE.findall(prose) for w in _words(span)]
    words += [
        w
        for body in commands
        for line in body.splitlines()
        for w in _words(line.split("#")[0])
        if FILE_OR_DIR.search(w)
    ]
    # A path names something: "3/3" (an attempt count) has a slash but no name in it.
    paths = {w for w in words if "/" in w and not NOT_A_PATH.search(w) and any(c.isalpha() for c in w)}
    links = {t.split("#")[0] for t in LINK.findall(prose) if not t.startswith(("http://", "https://", "#"))}
    return {p for p in paths | links if p and not p.startswith(GENERATED)}


def _exists(document: Path, path: str) -> bool:
    bases = (document.parent, ROOT, PACKAGE)
    return any((base / path).exists() for base in bases)


def test_the_path_finder_reads_code_links_and_blocks_and_leaves_out_what_is_not_a_path() -> None:
    markdown = (
        'Run `scripts/test.sh -m "not offline"`; see [the flow](docs/architecture.md#the-flow),\n'
        "[Datadog](https://docs.datadoghq.com/) and [retries](#retries); `ssm:/ecswatch/slack-token`,\n"
        "`events-rule/<rule>`, `startedBy: ecswatch-retry/<attempt>`, `jobs.yaml`, `.venv/bin/ecswatch`.\n"
        "```bash\n"
        "sam local invoke TaskEventsFunction -e events/stopped-oom.json   # a comment/with a slash\n"
        'curl -H "Content-Type: application/json" -d @src/ecswatch/dashboards/datadog-ecswatch.json\n'
        "```\n"
        "```\n"
        "src/ecswatch/   a picture, not paths: adapters/  aws/, dynamodb/\n"
        "```\n"
        "`.ci/run`.\n"
    )

    assert named_paths(markdown) == {
        "scripts/test.sh",
        "docs/architecture.md",
        "events/stopped-oom.json",
        "src/ecswatch/dashboards/datadog-ecswatch.json",
        ".ci/run",
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_document_names_exists_in_the_repository(document: Path) -> None:
    paths = named_paths(document.read_text())

    outside = sorted(p for p in paths if not (document.parent / p).resolve().is_relative_to(ROOT))
    missing = sorted(p for p in paths if p not in outside and not _exists(document, p))
    assert (outside, missing) == ([], [])


def test_the_documents_the_readme_points_to_are_there() -> None:
    readme = named_paths((ROOT / "README.md").read_text())

    assert {"docs/architecture.md", "CONTRIBUTING.md", "CHANGELOG.md", "LICENSE"} <= readme


def test_pre_commit_runs_the_ruff_the_gate_pins_and_the_jobs_config_check() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    repos = {repo["repo"]: repo for repo in config["repos"]}
    pinned = re.search(r"^ruff==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pinned is not None

    ruff = repos["https://github.com/astral-sh/ruff-pre-commit"]
    assert ruff["rev"] == f"v{pinned[1]}"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]
    (jobs_config,) = repos["local"]["hooks"]
    assert jobs_config["entry"] == "python -m ecswatch.config src/ecswatch/config/jobs.yaml"
    assert (ROOT / "src/ecswatch/config/jobs.yaml").is_file()


def test_the_package_metadata_names_its_license_and_the_license_is_there() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
