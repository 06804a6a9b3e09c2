"""``python -m gtforge``: the command line (:func:`gtforge.cli.main`), as the ``gtforge`` command runs it."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
