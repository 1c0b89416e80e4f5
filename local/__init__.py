"""Local harness: AWS served by moto, seeded from events/seed/, and capturing HTTP endpoints.

Used by the offline demo (scripts/demo.py), the benchmarks and the tests, so
all three exercise the real handler and the real client libraries over HTTP.
"""

from pathlib import Path

#: The demo's and the tests' nine made-up jobs; never deployed (``sam build`` bundles
#: ``src/ecswatch/config/jobs.yaml``, which ships without jobs).
DEMO_JOBS_CONFIG = Path(__file__).resolve().parent / "demo-jobs.yaml"
