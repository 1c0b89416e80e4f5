"""Smoke test of what `sam build` made: import each function's handler from its build directory.

Run by scripts/build.sh: `python scripts/smoke_artifact.py RUNTIME_PYTHON BUILD_DIR`. Each import runs in
a fresh process of the Lambda runtime's Python whose
path holds only the function's build directory and boto3 (which the Lambda runtime provides and the
bundle leaves out), so a module or data file missing from the bundle fails here, not in AWS. Prints
each function's unzipped and zipped size (Lambda's limits: 250 MB unzipped, 50 MB zipped upload).
"""

from __future__ import annotations

import io
import os
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
        for name, handler in functions().items():
            module, _, attribute = handler.rpartition(".")
            code = (
                f"import importlib as i; assert callable(getattr(i.import_module({module!r}), {attribute!r}))"
            )
            env = {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": os.pathsep.join([str(build / name), runtime]),
                "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_REGION": "eu-west-1",
                "POWERTOOLS_SERVICE_NAME": "ecswatch",
                "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
            }
            # -s: not the user's site-packages; the runtime Python's own has nothing but pip.
            result = subprocess.run(
                [sys.executable, "-s", "-c", code], env=env, capture_output=True, text=True, check=False
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
