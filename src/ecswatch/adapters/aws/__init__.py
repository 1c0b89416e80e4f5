"""boto3 adapters: clients, task definitions and logs, RunTask, live tasks, schedules, retry delivery."""
