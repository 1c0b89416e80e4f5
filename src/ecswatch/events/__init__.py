"""What AWS sends, as typed read-only values: ECS task events, task definitions, CloudTrail RunTask
records, and AWS schedule expressions. Pure parsing: nothing here calls AWS or knows about jobs."""
