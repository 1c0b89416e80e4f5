"""Dependency chains: ``on_success`` / ``on_failure`` — which jobs a run starts when it ends for good."""
