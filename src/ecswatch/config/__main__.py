"""``python -m ecswatch.config [--check] FILE.yaml``: validate a jobs file in full and compile it.

Every problem is printed at once (file, job, field). A valid file is compiled for the functions
(:mod:`ecswatch.config.compiled`): written to ``FILE.compiled.json``, or with ``--check`` (CI,
``scripts/test.sh``) only compared with the one there, failing while it is out of date.
A job that the nearest ``samconfig.toml`` would deploy without the RunTask rights its retries or
chained starts need is a problem too (:mod:`ecswatch.config.deployment`). Warnings about what a
valid file now means (:mod:`ecswatch.config.advice`) go to stderr and do not
change the exit status: 0 valid (and compiled file in sync), 1 problems, 2 usage.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ecswatch.config.advice import semantics_notes
from ecswatch.config.compiled import compile_config, compiled_path
from ecswatch.config.deployment import deployment_problems, find_samconfig, parameter_overrides
from ecswatch.config.loader import load_config
from ecswatch.config.model import ConfigError

USAGE = "usage: python -m ecswatch.config [--check] CONFIG.yaml\n"


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    check_only = "--check" in args
    if check_only:
        args.remove("--check")
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write(USAGE)
        return 2
    try:
        config = load_config(args[0])
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        return 1
    for note in semantics_notes(config):
        sys.stderr.write(f"warning: {note}\n")
    samconfig = find_samconfig(args[0])
    if samconfig is not None:
        problems = deployment_problems(config, parameter_overrides(samconfig), str(samconfig))
        if problems:
            sys.stderr.write("".join(f"{problem}\n" for problem in problems))
            return 1
    target = compiled_path(args[0])
    compiled = compile_config(config, Path(args[0]).read_bytes())
    current = target.read_text(encoding="utf-8") if target.exists() else None
    count = len(config.jobs)
    summary = f"{config.source}: {count} job{'' if count == 1 else 's'} OK"
    if current == compiled:
        sys.stdout.write(f"{summary}; {target} in sync\n")
        return 0
    if check_only:
        sys.stderr.write(
            f"{summary}, but {target} is {'out of date' if current else 'missing'}: "
            f"run python -m ecswatch.config {args[0]}\n"
        )
        return 1
    target.write_text(compiled, encoding="utf-8")
    sys.stdout.write(f"{summary}; wrote {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
