#!/usr/bin/env bash
# compare.sh: the README's comparison table. Builds tandem and tandem-bench,
# starts four servers on loopback (Tandem on SQLite and on Postgres, ShareDB
# in memory and on Postgres), runs `tandem-bench compare` against them, and
# stops every server it started, by pid.
#
#   cmd/tandem-bench/compare.sh [tandem-bench compare flags, e.g. --only typing,room-100 --runs 3]
#
# Needs Postgres on 127.0.0.1:5432 with trust auth (PGURL to change), Node 20+
# and `npm ci` done in cmd/tandem-bench/sharedb. ShareDB on Postgres is not
# run in the rooms above 100 editors unless SKIP says otherwise (SKIP= runs
# every cell): at 100 it already acknowledges a small fraction of the ops
# offered, and after such a run it works off its backlog for minutes, taking
# the CPU of the runs that follow. Run those cells on their own, e.g.
#   SKIP= cmd/tandem-bench/compare.sh --only room-300 \
#     --skip 'Tandem (SQLite):room-300,Tandem (Postgres):room-300,ShareDB (memory):room-300'
set -euo pipefail
cd "$(dirname "$0")/../.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

for port in 18080 18081 18090 18091; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "compare.sh: port $port is in use: stop what listens there first" >&2
		exit 1
	fi
done
go build -o "$work/tandem" ./cmd/tandem
go build -o "$work/tandem-bench" ./cmd/tandem-bench
for db in tandem_compare sharedb_compare; do
	psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done
node cmd/tandem-bench/sharedb/server.js --init --database-url "$PGURL/sharedb_compare"

# The limits are raised so that the load generator's many sign-ups and
# closed loops are not refused (README, Performance).
flags=(--login-rate-ip 1000000 --member-changes-per-minute 1000000 --argon2-memory-kib 8192
	--ops-per-second 100000 --ops-burst 100000 --conns-per-user 1000 --log-level warn)
"$work/tandem" serve --addr 127.0.0.1:18080 --data-dir "$work/data" "${flags[@]}" &
pids+=($!)
"$work/tandem" serve --addr 127.0.0.1:18081 --database-url "$PGURL/tandem_compare" --migrate "${flags[@]}" &
pids+=($!)
node cmd/tandem-bench/sharedb/server.js --port 18090 &
pids+=($!)
node cmd/tandem-bench/sharedb/server.js --port 18091 --db postgres --database-url "$PGURL/sharedb_compare" &
pids+=($!)
for port in 18080 18081 18090 18091; do
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
for p in "${pids[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "compare.sh: a server did not start" >&2; exit 1; }
done

ulimit -n 65536 2>/dev/null || true
"$work/tandem-bench" compare \
	--server 'Tandem (SQLite)=http://127.0.0.1:18080' \
	--server 'Tandem (Postgres)=http://127.0.0.1:18081' \
	--server 'ShareDB (memory)=ws://127.0.0.1:18090' \
	--server 'ShareDB (Postgres)=ws://127.0.0.1:18091' \
	--skip "${SKIP-ShareDB (Postgres):room-300,ShareDB (Postgres):room-500,ShareDB (Postgres):room-1000}" \
	"$@"
