#!/usr/bin/env bash
# Measure every quality, speed and memory target the README states and print one table:
# figure, target, room, and whether it is met (exit 1 when one is not). About an hour and
# a half on an idle 2-core machine; --only RUN,... measures some runs, --reuse prints the
# table again from the reports kept in data/targets. See scripts/benchmarks/targets.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
bash scripts/install_servers.sh  # real Redis and PostgreSQL for the cluster benchmark
exec .venv/bin/python -m scripts.benchmarks targets "$@"
