"""The ``ecswatch`` command line: run history, status, logs and manual retries (see ``main``)."""
