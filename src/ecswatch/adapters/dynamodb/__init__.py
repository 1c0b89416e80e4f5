"""DynamoDB adapters: notification state (storms, threads, lineage), history, idempotency, watchdog state."""
