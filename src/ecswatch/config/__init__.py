"""The job configuration (``jobs.yaml``) and the function settings read from the environment.

``model`` holds the frozen job model and how a task or a launch finds its job; ``loader`` reads
and validates ``jobs.yaml`` (every problem at once); ``graph`` checks the dependency chains
between jobs; ``compiled`` is the form the functions read at cold start (no YAML, no cron
engine, no graph walk); ``python -m ecswatch.config FILE`` checks a file and compiles it;
``settings`` and ``routing`` are the environment and where a job's alerts go. The bundled
``jobs.yaml`` and its ``jobs.compiled.json`` ship inside this package.
"""
