#!/usr/bin/env python3
"""Start the reference server: `python run_server.py --help` lists every setting."""

import sys

from impl.serve import main

if __name__ == "__main__":
    sys.exit(main())
