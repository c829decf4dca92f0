#!/usr/bin/env bash
# Install everything (into .venv) and run the linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/install_servers.sh  # real Redis and PostgreSQL for the cluster tests
.venv/bin/ruff check .
# One BLAS thread per process: the suite runs many processes at once, and numpy's threads
# contending for two cores made a tagger's training ten times slower.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# Four processes, each module's tests kept together (its fixtures are built once): much of
# the suite waits on the bot, worker and server processes it starts, so four keep two cores
# busy (on an idle 2-core machine: 545 s with four, 648 s with two). EARSHOT_TEST_WORKERS=0
# runs it in one process.
.venv/bin/python -m pytest -ra -n "${EARSHOT_TEST_WORKERS:-4}" --dist loadfile "$@"
