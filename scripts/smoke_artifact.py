"""Smoke test of what `sam build` made: import each function's handler from its build directory.

Run by scripts/build.sh: `python scripts/smoke_artifact.py RUNTIME_PYTHON BUILD_DIR`. Each import runs in
a fresh process of the Lambda runtime's Python whose
path holds only the function's build directory and boto3 (which the Lambda runtime provides and the
bundle leaves out), so a module or data file missing from the bundle fails here, not in AWS. Prints
each function's unzipped and zipped size (Lambda's limits: 250 MB unzipped, 50 MB zipped upload).

Compiled modules are built for the functions' architecture (template.yaml ``Architectures``), which
need not be this machine's: each one is checked to be for that architecture, and the packages
that hold them (msgspec, PyYAML, ...) are imported from this machine's build of the same pinned
versions instead, so the import of everything else from the artifact is still tested here.
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The boto3 the Lambda runtime brings; pinned as in requirements-dev.txt.
BOTO3 = next(
    line.strip()
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
    if line.startswith("boto3==")
)


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml's short-form intrinsics (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def functions() -> dict[str, str]:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    return {
        name: resource["Properties"]["Handler"]
        for name, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }


#: template.yaml's architecture names as they appear in a compiled module's file name.
_ARCH_TAGS = {"arm64": "aarch64", "x86_64": "x86_64"}


def architecture() -> str:
    """The functions' architecture, as compiled modules name it (Globals, then the first function)."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    for holder in (template.get("Globals", {}).get("Function", {}), *template["Resources"].values()):
        props = holder.get("Properties", holder) if isinstance(holder, dict) else {}
        if isinstance(props, dict) and props.get("Architectures"):
            return _ARCH_TAGS[props["Architectures"][0]]
    return "x86_64"  # Lambda's default


def compiled_packages(function_dir: Path, target: str) -> tuple[dict[str, str], list[str]]:
    """The distributions (name -> version) that ship compiled modules, and the modules that are not
    built for ``target`` (wrong-architecture wheels in the bundle)."""
    packages: dict[str, str] = {}
    wrong: list[str] = []
    for dist in sorted(function_dir.glob("*.dist-info")):
        name, version = dist.name.removesuffix(".dist-info").rsplit("-", 1)
        for line in (dist / "RECORD").read_text().splitlines():
            path = line.split(",", 1)[0]
            if path.endswith(".so"):
                packages[name] = version
                if f"-{target}-" not in Path(path).name:
                    wrong.append(path)
    return packages, wrong


def sizes(directory: Path) -> tuple[int, int]:
    unzipped, buffer = 0, io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            unzipped += path.stat().st_size
            archive.write(path, path.relative_to(directory))
    return unzipped, len(buffer.getvalue())


def main(python: str, build_dir: str) -> int:
    build = Path(build_dir)
    with tempfile.TemporaryDirectory() as runtime:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                runtime,
                BOTO3,
            ],
            check=True,
        )
        failures = 0
        target, host = architecture(), platform.machine()
        native = Path(runtime) / "native"
        for name, handler in functions().items():
            packages, wrong = compiled_packages(build / name, target)
            if wrong:
                failures += 1
                print(f"{name}: compiled modules not built for {target}: {', '.join(wrong)}", file=sys.stderr)
            if packages and host != target and not native.exists():
                # This machine cannot load the artifact's compiled modules: its own build of the same
                # versions stands in for them, ahead of the bundle on the path.
                pins = [f"{package}=={version}" for package, version in sorted(packages.items())]
                pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
                subprocess.run([*pip, "--target", str(native), *pins], check=True)
                print(
                    f"compiled modules are for {target}, this machine is {host}: imported from its own "
                    f"build of {', '.join(pins)}"
                )
            module, _, attribute = handler.rpartition(".")
            code = (
                f"import importlib as i; assert callable(getattr(i.import_module({module!r}), {attribute!r}))"
            )
            stand_ins = [str(native)] if native.exists() else []
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": os.pathsep.join([*stand_ins, str(build / name), runtime]),
                "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_REGION": "eu-west-1",
                "POWERTOOLS_SERVICE_NAME": "ecswatch",
                "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
            }
            # -s: not the user's site-packages; the runtime Python's own has nothing but pip.
            result = subprocess.run(
                [python, "-s", "-c", code], env=env, capture_output=True, text=True, check=False
            )
            unzipped, zipped = sizes(build / name)
            verdict = "ok" if result.returncode == 0 else "FAILED"
            print(
                f"{name:<24} {handler:<48} {verdict:<6} "
                f"{unzipped / 1e6:6.1f} MB unzipped  {zipped / 1e6:5.1f} MB zipped"
            )
            if result.returncode != 0:
                failures += 1
                print(result.stderr.strip()[-2000:], file=sys.stderr)
        return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/smoke_artifact.py RUNTIME_PYTHON BUILD_DIR")
    sys.exit(main(sys.argv[1], sys.argv[2]))
