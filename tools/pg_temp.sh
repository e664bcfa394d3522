#!/usr/bin/env bash
# A throw-away PostgreSQL for tests: `tools/pg_temp.sh start DIR` creates a cluster in the
# empty directory DIR, starts it on a free port on 127.0.0.1 and prints its URL
# (postgres://krepis:krepis@127.0.0.1:PORT/postgres, password auth over TCP);
# `tools/pg_temp.sh stop DIR` stops it (fast shutdown); the caller removes DIR;
# `tools/pg_temp.sh resume DIR` starts a stopped one again on its port;
# `tools/pg_temp.sh database URL NAME [ISOLATION]` creates database NAME on the server at
# URL (with ISOLATION, e.g. serializable, as its default transaction isolation);
# `tools/pg_temp.sh tls DIR CERT KEY` turns TLS on (ssl=on with that PEM certificate
# chain and key; plain connections stay allowed) and waits until it is in effect.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
# user (or `nobody`). Binaries: $PG_BIN, else /usr/lib/postgresql/*/bin, else $PATH.
set -euo pipefail

usage='usage: pg_temp.sh start|stop|resume DIR | database URL NAME [ISOLATION] | tls DIR CERT KEY'
cmd=${1:?$usage}
dir=${2:?$usage}
bin=${PG_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)}
[ -n "$bin" ] && export PATH="$bin:$PATH"

as_owner() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    runuser -u nobody -- "$@"
  fi
}

serve() {
  as_owner pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $1 -k $dir -c fsync=off -c max_connections=200" >/dev/null 2>&1
}

case "$cmd" in
start)
  if [ "$(id -u)" -eq 0 ]; then
    owner=$(id postgres >/dev/null 2>&1 && echo postgres || echo nobody)
    chown "$owner" "$dir"
  fi
  printf 'krepis\n' >"$dir/.pw"
  chmod 644 "$dir/.pw"
  as_owner initdb -D "$dir/data" -U krepis --pwfile="$dir/.pw" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if serve "$port"; then
      echo "$port" >"$dir/port"
      echo "postgres://krepis:krepis@127.0.0.1:$port/postgres"
      exit 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
  ;;
resume)
  serve "$(cat "$dir/port")" || { cat "$dir/server.log" >&2; exit 1; }
  ;;
database)
  psql -q -v ON_ERROR_STOP=1 "$dir" -c "CREATE DATABASE \"${3:?database name}\"" >/dev/null
  if [ -n "${4:-}" ]; then
    psql -q -v ON_ERROR_STOP=1 "$dir" \
      -c "ALTER DATABASE \"$3\" SET default_transaction_isolation = '$4'" >/dev/null
  fi
  ;;
tls)
  install -m 600 "${3:?certificate file}" "$dir/data/server.crt"
  install -m 600 "${4:?key file}" "$dir/data/server.key"
  if [ "$(id -u)" -eq 0 ]; then
    chown "$(stat -c %U "$dir/data")" "$dir/data/server.crt" "$dir/data/server.key"
  fi
  printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$dir/data/postgresql.conf"
  as_owner pg_ctl -D "$dir/data" reload >/dev/null
  for _ in $(seq 100); do
    [ "$(psql -XAtq -h "$dir" -p "$(cat "$dir/port")" -U krepis -d postgres -c 'SHOW ssl')" = on ] && exit 0
    sleep 0.1
  done
  echo "TLS did not come on:" >&2
  tail -5 "$dir/server.log" >&2
  exit 1
  ;;
stop)
  as_owner pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  ;;
*)
  echo "$usage" >&2
  exit 2
  ;;
esac
