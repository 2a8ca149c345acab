"""`python -m ntm_bench ...`: the same command line as `python run_bench.py` and `ntm-bench`."""
import sys

from ntm_bench.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m ntm_bench"))
