#!/usr/bin/env bash
# Install the real Redis and PostgreSQL servers that the cluster tests and benchmark start
# on 127.0.0.1 (Debian's packages). Needs root or passwordless sudo; without either, says so
# and leaves it to those tests to skip (or, under CI=true, to fail). Safe to rerun.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
if ! command -v initdb >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    need+=(postgresql)
fi
getent passwd postgres >/dev/null || [ "$(id -u)" != 0 ] || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
    sudo=()
elif sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install_servers: cannot install ${need[*]} (not root, no passwordless sudo);" \
         "the Redis/PostgreSQL tests will skip" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install_servers: no apt-get here; install ${need[*]} yourself" >&2
    exit 0
fi
echo "install_servers: installing ${need[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
# A daemon started by the package would take the default ports; the tests start their own.
policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ] && [ "$(id -u)" = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=true
fi
trap '$made_policy && rm -f "$policy"' EXIT
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { "${sudo[@]}" apt-get update -q >/dev/null && \
         "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
