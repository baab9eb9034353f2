#!/bin/sh
# First start: initialise the cluster with the given superuser password and database; then run postgres.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  su postgres -s /bin/sh -c "initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256" >/dev/null
  rm -f "$pwfile"
  printf "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n" >> "$PGDATA/pg_hba.conf"
  su postgres -s /bin/sh -c "postgres -D '$PGDATA' -c listen_addresses='' -c unix_socket_directories=/run/postgresql" &
  pid=$!
  until su postgres -s /bin/sh -c "pg_isready -h /run/postgresql -q"; do sleep 0.2; done
  if [ "$POSTGRES_DB" != "postgres" ]; then
    su postgres -s /bin/sh -c "createdb -h /run/postgresql -U '$POSTGRES_USER' '$POSTGRES_DB'"
  fi
  kill -INT "$pid"; wait "$pid" || true
fi
exec su postgres -s /bin/sh -c "exec postgres -D '$PGDATA' -c listen_addresses='*' -c unix_socket_directories=/run/postgresql"
