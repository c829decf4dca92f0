#!/usr/bin/env bash
# Install everything (into .venv), prepare what is missing (model, catalog, index), and
# run the bot. Settings come from .env; see .env.example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ ! -f .env ] && [ -z "${DISCORD_TOKEN:-}" ]; then
    cp .env.example .env
    echo "Created .env from .env.example: put your bot token in DISCORD_TOKEN, then run again." >&2
    exit 2
fi
.venv/bin/python -m bot --check
.venv/bin/python -m recommender prepare
exec .venv/bin/python -m bot "$@"
