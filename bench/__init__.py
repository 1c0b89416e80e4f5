"""Benchmarks for ecswatch: performance as ratios against a baseline measured in the same run.

Importing the package puts ``src/`` and the repository root on ``sys.path`` so that
``python -m bench.run`` finds ``common``, ``handlers`` and ``local`` the way pytest does.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
