"""`python -m impl`: start the reference server (same as run_server.py)."""

import sys

from .serve import main

if __name__ == "__main__":
    sys.exit(main())
