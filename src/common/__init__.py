"""ecswatch's domain: event model, analysis, links, policies. No SDK imports outside ``adapters``."""
