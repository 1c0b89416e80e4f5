"""decide -> act for a run: the coordinators the handlers call, one per role. They tie the
capabilities together — retry policy, chains, notifications, history — and run each effect once.

* ``task_events``: the task-events function's entry point (reads a record, hands it to a role below)
* ``task_runs``: a task's state change — its attempt, the retry decision, the news in its thread
* ``failed_launches``: a RunTask call that created no task — alerted, retried, or the run's end
* ``launcher``: the retry launcher's side (its function's entry point) — start an attempt once,
  abandon it, retry a task by hand
* ``chain_starts``: the jobs a run's end starts (``on_success``/``on_failure``), used by the others
* ``roles``: the three roles wired around one chain starter (the factory and the tests share it)
* ``shared``: what more than one of them needs
"""
