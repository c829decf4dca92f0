#!/usr/bin/env bash
# A listening worker for earshot past one machine: install everything (into .venv), bring
# yt-dlp up to date, and take jobs from QUEUE_URL until stopped (SIGTERM hands running jobs
# back to the queue). Settings come from the environment, then .env; see .env.example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
setting() {  # a setting as earshot reads it: the environment first, then .env
    .venv/bin/python -c 'import os, sys; from dotenv import load_dotenv; load_dotenv(); print(os.environ.get(sys.argv[1], ""))' "$1"
}
if [ -z "$(setting QUEUE_URL)" ]; then
    echo "A listening worker needs QUEUE_URL (redis://host:6379/0) in the environment or .env." >&2
    exit 2
fi
auto_update=$(setting YTDLP_AUTO_UPDATE | tr '[:upper:]' '[:lower:]')
case "${auto_update:-true}" in
    false | 0 | no | off) ;;
    *) bash scripts/update_ytdlp.sh .venv/bin/python ;;
esac
exec .venv/bin/python -m recommender worker
