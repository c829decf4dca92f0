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
# Two processes, each module's tests kept together (its fixtures are built once); most of
# the suite waits on the bot, worker and server processes it starts. EARSHOT_TEST_WORKERS=0
# runs it in one process.
.venv/bin/python -m pytest -ra -n "${EARSHOT_TEST_WORKERS:-2}" --dist loadfile "$@"
