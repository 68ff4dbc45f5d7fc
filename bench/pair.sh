#!/usr/bin/env bash
# pair.sh — the floor server of ../shared/loadlab, or roster, under the same
# load tool (loadlab's wsload), for side-by-side numbers. From the
# repository root:
#
#   bench/pair.sh floor  SUBS EVENTS RATE [wsload flags…]
#   bench/pair.sh roster SUBS EVENTS RATE [wsload flags…]
#   bench/pair.sh maxrate floor|roster SUBS RATE…   # p99 at each rate
#
# roster runs on a fresh PostgreSQL database (created on
# $PAIR_DATABASE_SERVER, default postgres://postgres@127.0.0.1:5432/test,
# dropped at the end) from $ROSTER_BIN, or a build of ./server; it logs the
# admin in, creates the agent whose availability changes, and logs it in.
# Each run prints wsload's JSON line. Ports: $FLOOR_PORT (4300),
# $ROSTER_PORT (4400).
set -euo pipefail
cd "$(dirname "$0")/.."
LOADLAB=${LOADLAB:-../shared/loadlab}
TOOLS=${TMPDIR:-/tmp}/roster-pair
mkdir -p "$TOOLS"
[ -x "$TOOLS/wsload" ] || (cd "$LOADLAB/wsload" && go build -o "$TOOLS/wsload" .)
[ -x "$TOOLS/floor" ] || (cd "$LOADLAB/floor" && go build -o "$TOOLS/floor" .)
ulimit -n "$(ulimit -Hn)"

if [ "$1" = maxrate ]; then
  side=$2 subs=$3; shift 3
  for r in "$@"; do
    ev=$(awk -v r="$r" 'BEGIN { e = int(r * 8); print (e < 40 ? 40 : e) }')
    "$0" "$side" "$subs" "$ev" "$r" | tail -1 | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print("%s rate %s achieved %.2f/s p99 %.0f ms lost %d" % (sys.argv[1], sys.argv[2], d["rate_achieved"], d["latency_ms"]["p99"], d["lost"]))' "$side" "$r"
  done
  exit
fi

side=$1 subs=$2 events=$3 rate=$4; shift 4
if [ "$side" = floor ]; then
  port=${FLOOR_PORT:-4300}
  log=$TOOLS/floor-$port.log
  "$TOOLS/floor" -addr "127.0.0.1:$port" > "$log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
  admin=$(awk '$1 == "token" && $2 == "1" { print $3 }' "$log")
  agent=$(awk '$1 == "token" && $2 == "2" { print $3 }' "$log")
else
  bin=${ROSTER_BIN:-}
  if [ -z "$bin" ]; then
    bin=$TOOLS/roster
    go build -o "$bin" ./server
  fi
  port=${ROSTER_PORT:-4400}
  server=${PAIR_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432/test}
  db=roster_pair_$$
  psql -q "$server" -c "CREATE DATABASE $db" > /dev/null
  url="${server%/*}/$db?sslmode=disable"
  ROSTER_DATABASE_URL=$url ROSTER_ADMIN_EMAIL=admin@pair.test ROSTER_ADMIN_PASSWORD=pair-Secret-123 ROSTER_LOG_LEVEL=warn \
    "$bin" -addr "127.0.0.1:$port" > "$TOOLS/roster-$port.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -q "$server" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null' EXIT
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
  gql() {
    curl -fsS "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' ${2:+-H "Authorization: Bearer $2"} -d "$1"
  }
  field() { python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]
for k in sys.argv[1:]: d = d[int(k)] if k.isdigit() else d[k]
print(d)' "$@"; }
  login='{"query": "mutation($e: String!) { login(input: {email: $e, password: \"pair-Secret-123\"}) { token } }", "variables": {"e": "EMAIL"}}'
  admin=$(gql "${login/EMAIL/admin@pair.test}" | field login token)
  role=$(gql '{"query": "{ roles(where: {builtin: AGENT}) { edges { node { id } } } }"}' "$admin" | field roles edges 0 node id)
  gql "{\"query\": \"mutation(\$i: CreateUserInput!) { createUser(input: \$i) { id } }\", \"variables\": {\"i\": {\"firstName\": \"Status\", \"lastName\": \"Changer\", \"email\": \"agent@pair.test\", \"password\": \"pair-Secret-123\", \"roleID\": \"$role\"}}}" "$admin" > /dev/null
  agent=$(gql "${login/EMAIL/agent@pair.test}" | field login token)
fi
"$TOOLS/wsload" -url "ws://127.0.0.1:$port/graphql" -token "$admin" -trigger-token "$agent" \
  -subs "$subs" -events "$events" -rate "$rate" -pid "$pid" -quiet "$@"
