#!/bin/sh
# First start: initialise the cluster with the given superuser password and database. Then run postgres as
# PID 1 (setpriv, not su, so that it receives the stop signal itself).
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  created=yes
fi
# Every start: the password in the environment is the password (a re-generated secret applies to an old volume).
as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start >/dev/null
if [ "${created:-no}" = yes ] && [ "$POSTGRES_DB" != "postgres" ]; then
  as_postgres createdb -h /run/postgresql -U "$POSTGRES_USER" "$POSTGRES_DB"
fi
printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g; s/.*/ALTER ROLE \"$POSTGRES_USER\" PASSWORD '&';/" |
  as_postgres psql -q -h /run/postgresql -U "$POSTGRES_USER" -d postgres -v ON_ERROR_STOP=1 >/dev/null
as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
