"""decide -> act for a run: the coordinators the handlers call, one per role (a task event, a
launch that created no task, the retry launcher, dependency chains). They tie the capabilities
together — retry policy, chains, notifications, history — and run each effect once."""
