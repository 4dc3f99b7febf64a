"""``python -m vaelib``: see :mod:`vaelib.cli`."""
import sys

from .cli import main

sys.exit(main())
