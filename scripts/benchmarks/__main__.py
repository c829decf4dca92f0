"""``python -m scripts.benchmarks NAME [options]``, from the repository's root."""

import sys

from scripts.benchmarks import main

sys.exit(main(prog="python -m scripts.benchmarks"))
