"""``python -m ecswatch.cli``: the same as the ``ecswatch`` console script."""

from ecswatch.cli.main import main

raise SystemExit(main())
