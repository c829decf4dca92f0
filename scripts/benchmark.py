#!/usr/bin/env python
"""earshot benchmarks: ``python scripts/benchmark.py NAME [options]``, the same as
``python -m scripts.benchmarks NAME [options]`` (see scripts/benchmarks/__init__.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.benchmarks import main

if __name__ == "__main__":
    sys.exit(main())
