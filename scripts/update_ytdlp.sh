#!/usr/bin/env bash
# Upgrade yt-dlp (with the yt-dlp-ejs solver its [default] extra pins) to its newest
# release, and say which version runs. Never fatal: without the package index, the
# installed yt-dlp stays. Usage: scripts/update_ytdlp.sh [PYTHON]  (default .venv/bin/python)
set -uo pipefail
python=${1:-.venv/bin/python}
pip() { "$python" -m pip --disable-pip-version-check "$@"; }
version() { "$python" -m yt_dlp --version; }
before=$(version)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
latest=$(pip index versions yt-dlp 2>"$log" | sed -n 's/^yt-dlp (\(.*\))$/\1/p')
if [ -z "$latest" ]; then
    echo "yt-dlp: could not check for a newer release; keeping $before:" >&2
    grep -v '^WARNING: Location' "$log" | tail -n 2 >&2
    exit 0
fi
if [ "$latest" = "$before" ]; then
    echo "yt-dlp $before is the newest release"
    exit 0
fi
# pip's resolver notes that earshot pins an older yt-dlp; that is expected here, so its
# output is shown only when the upgrade itself fails.
if pip install --quiet "yt-dlp[default]==$latest" >"$log" 2>&1; then
    echo "yt-dlp upgraded from $before to $(version) (YTDLP_AUTO_UPDATE=false turns this off)"
else
    echo "yt-dlp: could not install $latest; keeping $before:" >&2
    grep -v '^WARNING: Location' "$log" | tail -n 3 >&2
fi
exit 0
