#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the store tests and prints its URL.
#
#   export TEST_POSTGRES_URL="$(hawkbit-compat-server/tests/start-postgres.sh /tmp/ota-pg)"
#   cargo test -p hawkbit-compat-server
#   hawkbit-compat-server/tests/start-postgres.sh --stop /tmp/ota-pg
#
# The cluster listens only on a Unix socket inside DIR (no TCP port to collide with), trusts
# local connections, and lives entirely in DIR. The tests create one database per test in it.
# Needs the PostgreSQL server binaries (Debian: postgresql-15); when run as root, the server is
# run as the `postgres` user because PostgreSQL refuses to run as root.
set -euo pipefail

if [[ "${1:-}" == "--stop" ]]; then
    dir="${2:?usage: $0 --stop DIR}"
    bindir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    as_pg=()
    [[ "$(id -u)" == 0 ]] && as_pg=(runuser -u postgres --)
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    exit 0
fi

dir="${1:-$(mktemp -d /tmp/ota-pg.XXXXXX)}"
bindir="${PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)}"
if [[ ! -x "$bindir/initdb" ]]; then
    echo "start-postgres.sh: PostgreSQL server binaries not found (install postgresql)" >&2
    exit 1
fi

as_pg=()
user="$(id -un)"
if [[ "$(id -u)" == 0 ]]; then
    as_pg=(runuser -u postgres --)
    user=postgres
fi

mkdir -p "$dir"
[[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U "$user" -A trust --no-sync >"$dir/initdb.log" 2>&1
fi
# fsync off: the data is thrown away, and it makes CREATE DATABASE per test much faster.
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null

echo "postgres://$user@localhost/postgres?host=$dir"
