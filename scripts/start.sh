#!/usr/bin/env bash
# Install everything (into .venv), bring yt-dlp up to date, prepare what is missing (model,
# catalog, index), check the deployment with the doctor, and run the bot. Settings come
# from .env; see .env.example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ ! -f .env ] && [ -z "${DISCORD_TOKEN:-}" ]; then
    install -m 600 .env.example .env  # it will hold the bot's token: this user's alone
    echo "Created .env from .env.example: put your bot token in DISCORD_TOKEN, then run again." >&2
    exit 2
fi
.venv/bin/python -m bot --check

# YouTube changes weekly and an exact pin goes stale within a month: take yt-dlp's newest
# release (with the yt-dlp-ejs solver it expects) at each start, unless told not to.
setting() {  # a setting as earshot reads it: the environment first, then .env
    .venv/bin/python -c 'import os, sys; from dotenv import load_dotenv; load_dotenv(); print(os.environ.get(sys.argv[1], ""))' "$1"
}
auto_update=$(setting YTDLP_AUTO_UPDATE | tr '[:upper:]' '[:lower:]')
case "${auto_update:-true}" in
    false | 0 | no | off)
        echo "yt-dlp $(.venv/bin/python -m yt_dlp --version): auto-update is off (YTDLP_AUTO_UPDATE)"
        ;;
    *)
        bash scripts/update_ytdlp.sh .venv/bin/python
        ;;
esac

.venv/bin/python -m recommender prepare
echo "checking the deployment (python -m recommender doctor):"
errors=$(mktemp)
if ! report=$(.venv/bin/python -m recommender doctor 2>"$errors"); then
    echo "$report"
    failed=$(echo "$report" | sed -n 's/^failed: //p')
    [ -n "$failed" ] || tail -n 20 "$errors" >&2
    rm -f "$errors"
    echo "earshot will not start: the doctor's check failed: ${failed:-it could not run}." >&2
    exit 1
fi
rm -f "$errors"
echo "$report"
exec .venv/bin/python -m bot "$@"
