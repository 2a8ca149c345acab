#!/usr/bin/env python3
"""ntm-bench command line. `python run_bench.py --help` for the commands."""
import sys

from ntm_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
