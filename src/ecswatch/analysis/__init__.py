"""From one event to one run report: durations, the deciding container, outcome and cause, console
links, and the redaction that every text leaving the function goes through."""
