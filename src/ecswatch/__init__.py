"""ecswatch: watch batch jobs that run as Amazon ECS tasks.

One package, a sub-package per capability (see ``docs/architecture.md``): ``events`` (what AWS
sends), ``analysis`` (a run report from an event), ``config`` (jobs and settings), ``notifications``,
``retries``, ``chains``, ``watchdog``, ``history``; ``ports`` are the Protocols the domain needs,
``adapters`` implement them, ``handlers`` are the Lambda entry points and ``cli`` the console script.
"""

__version__ = "0.2.0"
