"""``python -m ecswatch_cli``: the same as the ``ecswatch`` console script."""

from ecswatch_cli.main import main

raise SystemExit(main())
