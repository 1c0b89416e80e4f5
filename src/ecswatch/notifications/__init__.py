"""What reaches people: Slack alerts, storm grouping, threads, Datadog events and metric points,
built from run reports and sent once each under at-least-once delivery."""
