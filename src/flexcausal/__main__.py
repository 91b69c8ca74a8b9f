"""``python -m flexcausal ...`` is the same as the ``flexcausal`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
