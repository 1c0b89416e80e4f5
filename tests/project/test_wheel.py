"""``pip install .`` (and ``pipx install .``) gives a working ``ecswatch`` command.

The wheel is built from this tree as pip builds it for a user, then installed into a fresh virtual
environment that has never seen the source tree, and the console script is run from that
environment's ``bin``. The wheel must hold the ``ecswatch`` package alone — no top-level ``tests``,
``local`` or ``bench`` landing in a user's site-packages — with the data the package reads at run
time: the default ``jobs.yaml`` and the Datadog dashboard.

Nothing is downloaded for the project's dependencies: the fresh environment finds them through
``PYTHONPATH`` in the development environment's site-packages. ``PYTHONPATH`` does not process
``.pth`` files, so the development environment's editable install of ``src/`` stays invisible and the
``ecswatch`` that runs is the one the wheel installed (asserted below).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.offline

ROOT = Path(__file__).parents[2]


def _setuptools_here_can_build() -> bool:
    """True when this environment's setuptools meets the project's ``build-system.requires``, so the
    wheel is built with it (``--no-build-isolation``: nothing fetched). Otherwise pip builds in
    isolation, as ``pip install .`` does for a user, and fetches that backend from the configured index."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for spec in map(Requirement, requires):
        try:
            installed = metadata.version(spec.name)
        except metadata.PackageNotFoundError:
            return False
        if not spec.specifier.contains(installed, prereleases=True):
            return False
    return True


def _run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command, fail the test with its output when it fails, return its stdout."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from this tree: from a copy of what the build reads, so the build's
    ``build/`` and ``*.egg-info`` land in a temporary directory, not in the working tree."""
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheelhouse")
    isolation = ["--no-build-isolation"] if _setuptools_here_can_build() else []
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation, "-w", out, source)
    (built,) = out.glob("ecswatch-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with only the wheel installed in it (``--no-deps``)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
    )
    return venv


def _env_with_dependencies() -> dict[str, str]:
    """The environment for the fresh venv's commands: the dependencies from the development
    site-packages, and nothing that points at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return env


def test_the_wheel_holds_the_ecswatch_package_and_its_data_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"ecswatch-{wheel.name.split('-')[1]}.dist-info/"
    strays = [n for n in names if not n.startswith(("ecswatch/", dist_info))]
    assert strays == []
    assert "ecswatch/config/jobs.yaml" in names
    assert "ecswatch/config/jobs.compiled.json" in names  # what the functions read at cold start
    assert "ecswatch/dashboards/datadog-ecswatch.json" in names
    assert "ecswatch/monitors/job-failed.json" in names
    assert "ecswatch/py.typed" in names  # the package's own type hints are used by mypy (PEP 561)
    assert "ecswatch/cli/main.py" in names
    assert "ecswatch/handlers/task_events.py" in names
    assert f"{dist_info}licenses/LICENSE" in names


def test_the_wheel_declares_the_console_script_license_and_version(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        dist_info = next(n.split("/")[0] for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        entry_points = whl.read(f"{dist_info}/entry_points.txt").decode()
        meta = whl.read(f"{dist_info}/METADATA").decode()
    assert re.search(r"^ecswatch = ecswatch\.cli\.main:main$", entry_points, re.MULTILINE)
    assert "License-Expression: Apache-2.0" in meta.splitlines()
    package_version = re.search(
        r'^__version__ = "(.+)"$', (ROOT / "src/ecswatch/__init__.py").read_text(), re.M
    )
    assert package_version is not None
    assert f"Version: {package_version[1]}" in meta.splitlines()


def test_ecswatch_help_runs_from_the_installed_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    out = _run(fresh_venv / "bin" / "ecswatch", "--help", env=_env_with_dependencies(), cwd=tmp_path)
    assert out.startswith("usage: ecswatch ")
    for command in ("runs", "status", "logs", "retry"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command


def test_ecswatch_runs_help_runs_from_the_installed_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    out = _run(fresh_venv / "bin" / "ecswatch", "runs", "--help", env=_env_with_dependencies(), cwd=tmp_path)
    assert out.startswith("usage: ecswatch runs ")
    assert "--since" in out
    assert "--failed" in out


def test_the_installed_package_and_its_bundled_jobs_config_come_from_the_wheel(
    fresh_venv: Path, tmp_path: Path
) -> None:
    """Proof the commands above ran the wheel, not ``src/``: the package and its default jobs.yaml
    resolve inside the fresh environment."""
    script = (
        "import ecswatch, ecswatch.config.settings as s; "
        "print(ecswatch.__file__); print(s.BUNDLED_JOBS_CONFIG); print(s.BUNDLED_JOBS_CONFIG.is_file())"
    )
    out = _run(fresh_venv / "bin" / "python", "-c", script, env=_env_with_dependencies(), cwd=tmp_path)
    package_file, jobs_config, exists = out.splitlines()
    venv = fresh_venv.resolve()
    assert Path(package_file).resolve().is_relative_to(venv)
    assert Path(jobs_config).resolve().is_relative_to(venv)
    assert exists == "True"
