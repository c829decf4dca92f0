#!/usr/bin/env bash
# Install everything (into .venv) and run the linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/install_servers.sh  # real Redis and PostgreSQL for the cluster tests
.venv/bin/ruff check .
.venv/bin/python -m pytest -ra "$@"
