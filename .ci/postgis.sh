#!/usr/bin/env bash
# Start a throwaway PostgreSQL + PostGIS server on 127.0.0.1 for the PostGIS variants of the
# storage and API tests, and export GEO_SERVICE_TEST_DATABASE_URL. Source it:
#   source .ci/postgis.sh
# Installs Debian's postgresql and postgis packages when they are missing. When that is
# impossible it says so and returns 1: the tests then skip the PostGIS variants with the reason.
PG_PORT="${PG_PORT:-55432}"
PG_DATA="${PG_DATA:-${TMPDIR:-/tmp}/geo_service_postgis}"

pg_bin() { { ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -1; }
have_postgis() { ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; }

if [ -z "$(pg_bin)" ] || ! have_postgis; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgis >/dev/null; } \
    || { echo "warning: could not install PostgreSQL/PostGIS; PostGIS tests will be skipped" >&2; return 1; }
fi
PG_BIN="$(pg_bin)"
as_owner=()
if [ "$(id -u)" = 0 ]; then as_owner=(runuser -u postgres --); fi

if [ -f "$PG_DATA/postmaster.pid" ]; then
  "${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$PG_DATA" && mkdir -p "$PG_DATA"
if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DATA"; fi
"${as_owner[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
  || { echo "warning: initdb failed; PostGIS tests will be skipped" >&2; return 1; }
# fsync off: a throwaway test cluster (a client killed mid-upload still rolls back; only an OS
# crash would need fsync)
"${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DATA -c fsync=off -c max_connections=200" >/dev/null \
  || { echo "warning: PostgreSQL did not start (see $PG_DATA/server.log); PostGIS tests will be skipped" >&2; return 1; }
export GEO_SERVICE_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') with PostGIS on 127.0.0.1:$PG_PORT (GEO_SERVICE_TEST_DATABASE_URL set)"
