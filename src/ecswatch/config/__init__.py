"""The job model (``jobs.yaml``), its loader and validator, and the function settings read from the
environment. The bundled ``jobs.yaml`` ships inside this package."""
