"""`python -m rights`: the console script, run from whichever checkout is on the path."""

import sys

from rights.cli import main

if __name__ == "__main__":
    sys.exit(main())
