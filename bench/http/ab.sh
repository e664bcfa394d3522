#!/usr/bin/env bash
# A/B of server builds on one scenario, for bridge design work (README "Bridge design").
# Every server runs pinned to CPU 0, wrk -t1 on CPU 1; servers alternate within rounds.
# Per round and server: req/s, server CPU µs/request (perf stat task-clock), context
# switches and minor page faults per request, user and system µs/request (utime and stime
# of /proc/<pid>/stat, in clock ticks), then the medians.
#
#   bench/http/ab.sh ROUNDS SECONDS CONNECTIONS PATH NAME=DIR:LIBRARY:SCRIPT ...
#   BENCH_LUA=script.lua  wrk script (e.g. a POST body)
#   BENCH_BULK=1          load with bulk_load (crates/krepis-kernel/examples/bulk_load.rs, built
#                         with `cargo build --release -p krepis-kernel --example bulk_load`)
#                         instead of wrk: for 1 MiB responses, where wrk's core is the limit
#   PATH may hold {ID}: each server's own id from its `PORT <n> ID <id>` line (the todo servers)
#   BENCH_TLS=1           load the servers' TLS ports over https (they print TLSPORT; give them
#                         BENCH_TLS_CERT and BENCH_TLS_KEY, PEM file paths)
#
# DIR is a checkout (its bench/http/*.ts run there), LIBRARY its kernel build (`-`: none);
# a SCRIPT not ending in .ts is an executable run as it is (e.g. a pure-Rust peer); words after
# the first are its arguments (quote the spec), e.g.
#   bench/http/ab.sh 5 3 64 / new=.:target/release/libkrepis.so:bench/http/krepis_server.ts \
#     old=/tmp/main:/tmp/main/libkrepis.so:bench/http/krepis_server.ts \
#     deno=.:-:bench/http/deno_server.ts h1=.:-:target/release/examples/h1_bench
set -euo pipefail
rounds=$1 seconds=$2 conns=$3 path=$4
shift 4
work=$(mktemp -d)
declare -A pid port id
names=()
cleanup() {
  for n in "${names[@]}"; do kill "${pid[$n]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for spec in "$@"; do
  name=${spec%%=*} rest=${spec#*=}
  dir=${rest%%:*} rest=${rest#*:}
  lib=${rest%%:*} script=${rest#*:}
  [[ $lib == /* ]] || lib=$(realpath -m "$dir/$lib")
  read -ra run <<<"$script" # SCRIPT may carry arguments: "todo_app.ts kernel"
  [[ ${run[0]} != *.ts ]] || run=(deno run -A "${run[@]}")
  (cd "$dir" && KREPIS_LIB_PATH=$lib exec taskset -c 0 "${run[@]}" >"$work/$name.out") &
  pid[$name]=$!
  names+=("$name")
  for _ in $(seq 1 300); do grep -q '^PORT' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  if [[ -n ${BENCH_TLS:-} ]]; then
    port[$name]=$(awk '/^PORT/ {print $4; exit}' "$work/$name.out")
  else
    port[$name]=$(awk '/^PORT/ {print $2; exit}' "$work/$name.out")
  fi
  id[$name]=$(awk '/^PORT/ && $3 == "ID" {print $4; exit}' "$work/$name.out")
done
# utime and stime of every thread of the server, in clock ticks (`comm` may hold spaces).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }
hz=$(getconf CLK_TCK)
scheme=http
[[ -z ${BENCH_TLS:-} ]] || scheme=https
bulk=$(dirname "$(realpath "$0")")/../../target/release/examples/bulk_load
load() {
  local url="$scheme://127.0.0.1:${port[$2]}${path//\{ID\}/${id[$2]}}"
  if [[ -n ${BENCH_BULK:-} ]]; then
    taskset -c 1 "$bulk" "$conns" "$1" "$url"
  else
    taskset -c 1 wrk -t1 -c"$conns" -d"$1"s ${BENCH_LUA:+-s "$BENCH_LUA"} "$url"
  fi
}
for n in "${names[@]}"; do load 1 "$n" >/dev/null; done
for r in $(seq 1 "$rounds"); do
  order=("${names[@]}")
  if ((r % 2 == 0)); then mapfile -t order < <(printf '%s\n' "${names[@]}" | tac); fi
  for n in "${order[@]}"; do
    perf stat -x, -e task-clock,context-switches,minor-faults -p "${pid[$n]}" -o "$work/stat" -- sleep "$seconds" &
    stat=$!
    read -r user0 system0 < <(ticks "${pid[$n]}")
    out=$(load "$seconds" "$n")
    read -r user1 system1 < <(ticks "${pid[$n]}")
    wait $stat
    requests=$(grep -o '[0-9]* requests in' <<<"$out" | cut -d' ' -f1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    ms=$(awk -F, '/task-clock/ {print $1}' "$work/stat")
    cs=$(awk -F, '/context-switches/ {print $1}' "$work/stat")
    pf=$(awk -F, '/minor-faults/ {print $1}' "$work/stat")
    tick=$(bc <<<"scale=6; 1000000/$hz/$requests")
    echo "$r $n $rps $(bc <<<"scale=2; $ms*1000/$requests") $(bc <<<"scale=3; $cs/$requests") $(bc <<<"scale=2; $pf/$requests") $(bc <<<"scale=2; ($user1-$user0)*$tick/1") $(bc <<<"scale=2; ($system1-$system0)*$tick/1")"
  done
done | tee "$work/rows" | awk '{print "round " $1 " " $2 ": " $3 " req/s, " $4 " µs CPU/req, " $5 " cs/req, " $6 " faults/req, " $7 " user + " $8 " system µs/req"}' >&2
echo "medians (req/s, CPU µs/request, context switches/request, minor faults/request, user µs/request, system µs/request):"
for n in "${names[@]}"; do
  med() { awk -v n="$n" -v c="$1" '$2 == n {print $c}' "$work/rows" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
  echo "$n: $(med 3) $(med 4) $(med 5) $(med 6) $(med 7) $(med 8)"
done
