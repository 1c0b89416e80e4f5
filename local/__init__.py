"""Local harness: AWS served by moto, seeded from events/seed/, and capturing HTTP endpoints.

Used by the offline demo (scripts/demo.py), the benchmarks and the tests, so
all three exercise the real handler and the real client libraries over HTTP.
"""
