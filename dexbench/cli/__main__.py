"""`python -m dexbench.cli`: the `dexbench` command."""

import sys

from dexbench.cli import main

sys.exit(main())
