"""``python -m oakbench``: what bench/run executes once the environment is ready."""

import sys

from .driver import main

sys.exit(main())
