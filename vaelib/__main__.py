"""``python -m vaelib``: see :mod:`vaelib.cli`."""
import sys

from .cli import main

if __name__ == "__main__":  # not when a worker process of vaelib.parallel re-imports the main module
    sys.exit(main())
