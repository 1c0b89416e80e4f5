"""Adapters: one module per outside system, each implementing a port from ``ecswatch.ports``."""
