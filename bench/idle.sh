#!/usr/bin/env bash
# Memory of idle keep-alive client connections: the gateway's resident set
# with N connections that each served one request and sit idle, against the
# same gateway process's before any were opened. Loopback only. See
# bench/README.md.
#
#   bench/idle.sh                           # 3 rounds of 0 then 10,000 connections
#   N=1000 ROUNDS=1 bench/idle.sh           # smoke test
#   TLS=1 bench/idle.sh                     # the same over TLS
#   TURNPIKE_BIN=/tmp/turnpike bench/idle.sh
#
# Each round starts a fresh gateway (bench/turnpike.yml, GOMAXPROCS=1,
# access log off, in front of bench/backend), reads its RSS idle (idleconns
# -n 0), then opens N connections and reads it again (idleconns -n N), and
# stops it; RSS per connection = (RSS(N) - RSS(0)) / N, paired per round.
# The table also shows RSS(0)'s anonymous part (heap, stacks) and its
# file-backed part (the binary's pages, which vary with the page cache).
# With TLS=1 the gateway serves bench/turnpike-tls.yml on an ssl listener
# with a throwaway self-signed ECDSA P-256 certificate for localhost (made
# with openssl in the scratch directory), and each connection does a TLS
# handshake before its request (HTTP/1.1; the baseline opens none).
#
# Knobs (environment):
#   N=10000  ROUNDS=3  SETTLE=5 (s idle before each read)  OPEN_CONC=64 (connections being opened at once)
#   REQ_PATH=/hello  PIN=1 (gateway alone on CPU 0; backend and idleconns on CPU 1) | 0
#   TLS=0 | 1 (client connections over TLS)
#   PORT_BASE=18500 (backend; turnpike +1)
#   TURNPIKE_BIN=<prebuilt binary> (default: build ./cmd/turnpike)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

N=${N:-10000}
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-5}
OPEN_CONC=${OPEN_CONC:-64}
REQ_PATH=${REQ_PATH:-/hello}
PIN=${PIN:-1}
TLS=${TLS:-0}
PORT_BASE=${PORT_BASE:-18500}
# shellcheck source=lib.sh
source "$HERE/lib.sh"

for v in N ROUNDS SETTLE OPEN_CONC PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( N >= 1 && ROUNDS >= 1 && OPEN_CONC >= 1 )) || die "N, ROUNDS and OPEN_CONC must be >= 1"
[[ $TLS == 0 || $TLS == 1 ]] || die "TLS must be 0 or 1, got '$TLS'"
need=(curl go)
if [[ $PIN == 1 ]]; then need+=(taskset); fi
if [[ $TLS == 1 ]]; then need+=(openssl); fi
for cmd in "${need[@]}"; do
  command -v "$cmd" >/dev/null || die "$cmd is missing"
done
# Go raises a process's soft RLIMIT_NOFILE to the hard one at start: the
# gateway needs N client connections, the upstream ones and its own files;
# idleconns fails by itself when it cannot hold N.
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && (( hard < N + 1000 )); then
  die "the hard open-files limit is $hard, below N + 1000 = $((N + 1000)); raise it (ulimit -Hn, as root) or lower N"
fi

# --- cleanup: every process started here is killed by pid --------------------
scratch idle-bench
place "$PIN"

BPORT=$PORT_BASE
TPORT=$((PORT_BASE + 1))
for p in $BPORT $TPORT; do
  port_busy "$p" && die "port $p is in use; pick another PORT_BASE"
done

# --- build and start ------------------------------------------------------------
mkdir -p "$TMP/bin"
log "building backend, idleconns"
(cd "$ROOT" && go build -o "$TMP/bin/" ./bench/backend ./bench/idleconns) || die "go build of bench/ failed"
turnpike_binary "$ROOT"

# stop NAME: TERM, KILL after 10 s; the pid leaves the cleanup list.
stop() {
  local p=${PID[$1]} i
  kill "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for i in "${!PIDS[@]}"; do
    if [[ ${PIDS[$i]} == "$p" ]]; then unset 'PIDS[i]'; fi
  done
  PIDS=("${PIDS[@]}")
}

# The gateway's config, listener and address as the clients see them.
config=$HERE/turnpike.yml listen=127.0.0.1:$TPORT url=http://127.0.0.1:$TPORT$REQ_PATH
check=() tlsflag=()
if [[ $TLS == 1 ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log" ||
    die "openssl could not make the certificate: $(cat "$TMP/openssl.log")"
  BENCH_TLS_CERT=$(<"$TMP/cert.pem") BENCH_TLS_KEY=$(<"$TMP/key.pem")
  export BENCH_TLS_CERT BENCH_TLS_KEY
  config=$HERE/turnpike-tls.yml listen="127.0.0.1:$TPORT ssl" url=https://localhost:$TPORT$REQ_PATH
  check=(--cacert "$TMP/cert.pem" --resolve "localhost:$TPORT:127.0.0.1")
  tlsflag=(-tls)
fi

start backend "${ON_LOAD[@]}" "$TMP/bin/backend" -addr "127.0.0.1:$BPORT"
answers "http://127.0.0.1:$BPORT/hello" backend

# idle N: one idleconns run against the running gateway; sets LINE.
idle() {
  local out
  out=$(timeout $((SETTLE + 240)) "${ON_LOAD[@]}" "$TMP/bin/idleconns" -addr "127.0.0.1:$TPORT" -pid "${PID[turnpike]}" \
    "${tlsflag[@]}" -n "$1" -path "$REQ_PATH" -c "$OPEN_CONC" -settle "${SETTLE}s" -max "$((SETTLE + 200))s" 2>&1) ||
    die "idleconns -n $1 failed: $out"
  LINE=$(grep '^RESULT' <<<"$out") || die "idleconns -n $1 gave no result: $out"
}

echo "date: $(date -Is)  commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)  go: $(go version | cut -d' ' -f3)"
echo "command: N=$N ROUNDS=$ROUNDS SETTLE=$SETTLE OPEN_CONC=$OPEN_CONC REQ_PATH=$REQ_PATH PIN=$PIN TLS=$TLS bench/idle.sh"
printf '%-6s %9s %9s %9s %9s %9s %11s %16s %8s\n' round rss0_kb anon0_kb file0_kb rssN_kb hwmN_kb per_conn_B anon_per_conn_B open_ms
per=()
for r in $(seq "$ROUNDS"); do
  start turnpike env GOMAXPROCS=1 BENCH_BACKEND_URL="http://127.0.0.1:$BPORT" "${ON_PROXY[@]}" "$TMP/bin/turnpike" run \
    --expand-env -c "$config" --proxy-listen "$listen" --admin-listen off --access-log off
  answers "$url" turnpike "${check[@]}"
  idle 0
  base=$LINE
  idle "$N"
  full=$LINE
  stop turnpike
  rss0=$(field vmrss_kb "$base") rssn=$(field vmrss_kb "$full")
  a0=$(field rssanon_kb "$base") an=$(field rssanon_kb "$full")
  p=$(( (rssn - rss0) * 1024 / N ))
  per+=("$p")
  printf '%-6s %9s %9s %9s %9s %9s %11s %16s %8s\n' "$r" "$rss0" "$a0" "$(field rssfile_kb "$base")" "$rssn" \
    "$(field vmhwm_kb "$full")" "$p" "$(( (an - a0) * 1024 / N ))" "$(field open_ms "$full")"
done
sorted=$(printf '%s\n' "${per[@]}" | sort -n)
echo "RSS per idle connection: median $(median "${per[@]}") B, range $(head -n 1 <<<"$sorted")-$(tail -n 1 <<<"$sorted") B over $ROUNDS round(s), N=$N"
