"""The watchdog: what no task event says — runs too long, starts that never come, scheduled runs that
never happen. Decisions are pure; the pass reads the service and acts."""
