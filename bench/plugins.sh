#!/usr/bin/env bash
# Plugin-overhead benchmark: Turnpike's throughput through a route with no
# plugin, one with key-auth + rate-limiting (policy local) and one with
# key-auth + rate-limiting (policy redis), measured interleaved in one run
# on 127.0.0.1 only, and the plugin routes' req/s as a ratio of the
# no-plugin route's in the same round. See bench/README.md.
#
#   bench/plugins.sh                        # 3 rounds x 5 s per route
#   ROUNDS=1 DURATION=2 bench/plugins.sh    # smoke test
#
# Knobs (environment):
#   ROUNDS=3  DURATION=5  WARMUP=1  CONNS=64  THREADS=1
#   PIN=1 (turnpike alone on CPU 0; wrk, backend and redis-server on CPU 1) | 0
#   PORT_BASE=18300 (backend; turnpike +1, redis-server +2)
#   TURNPIKE_BIN=<prebuilt binary> (default: build ./cmd/turnpike)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PIN=${PIN:-1}
PORT_BASE=${PORT_BASE:-18300}
# shellcheck source=lib.sh
source "$HERE/lib.sh"

for v in ROUNDS DURATION WARMUP CONNS THREADS PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( ROUNDS >= 1 && DURATION >= 1 && CONNS >= 1 && THREADS >= 1 )) || die "ROUNDS, DURATION, CONNS and THREADS must be >= 1"
for cmd in wrk redis-server curl taskset go; do
  command -v "$cmd" >/dev/null || die "$cmd is missing (apt-get install wrk redis-server curl util-linux)"
done

# --- cleanup: every process started here is killed by pid --------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/turnpike-plugins-bench.XXXXXX")
cleanup() {
  kill_started
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
place "$PIN"

BPORT=$PORT_BASE
TPORT=$((PORT_BASE + 1))
RPORT=$((PORT_BASE + 2))
for p in $BPORT $TPORT $RPORT; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && die "port $p is in use; pick another PORT_BASE"
done

# --- build and start ------------------------------------------------------------
mkdir -p "$TMP/bin"
log "building backend"
(cd "$ROOT" && go build -o "$TMP/bin/" ./bench/backend) || die "go build ./bench/backend failed"
turnpike_binary "$ROOT"

start backend "${ON_LOAD[@]}" "$TMP/bin/backend" -addr "127.0.0.1:$BPORT"
start redis "${ON_LOAD[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP"

# The limit is far above what the run can send: every request is counted
# and admitted, so the figures are the cost of counting.
cat >"$TMP/turnpike.yml" <<EOF
_format_version: "3.0"
consumers:
- username: bench
  keyauth_credentials: [{key: bench-key}]
services:
- name: backend
  url: http://127.0.0.1:$BPORT
  routes:
  - {name: none, paths: [/none]}
  - name: local
    paths: [/local]
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {hour: 1000000000, policy: local}
  - name: redis
    paths: [/redis]
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {hour: 1000000000, policy: redis, redis: {host: 127.0.0.1, port: $RPORT}}
EOF
start turnpike env GOMAXPROCS=1 "${ON_PROXY[@]}" "$TMP/bin/turnpike" run -c "$TMP/turnpike.yml" \
  --proxy-listen "127.0.0.1:$TPORT" --admin-listen off --access-log off

ROUTES="none local redis"
for route in $ROUTES; do
  ok=0
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null --max-time 1 -H "apikey: bench-key" "http://127.0.0.1:$TPORT/$route/hello" 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [[ $ok != 1 ]]; then
    tail -n 20 "$TMP/turnpike.log" "$TMP/redis.log" >&2 || true
    die "/$route/hello did not answer 200"
  fi
done
curl -fsS -D - -o /dev/null -H "apikey: bench-key" "http://127.0.0.1:$TPORT/redis/hello" | grep -qi '^x-ratelimit-remaining-hour' ||
  die "the redis route sends no rate-limit headers"

{
  echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
  echo "go:      $(go version)"
  echo "wrk:     $(wrk -v 2>&1 | head -n 1)"
  echo "redis:   $(redis-server --version)"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS THREADS=$THREADS PIN=$PIN bench/plugins.sh"
}

# --- measure ------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
ticks() { # utime+stime of a pid, in clock ticks
  local f a
  f=$(cat "/proc/$1/stat") || die "process $1 is gone"
  f=${f##*) }
  read -r -a a <<<"$f"
  echo $((a[11] + a[12]))
}
# run ROUTE: one wrk run against /ROUTE/hello; sets RPS and US (Turnpike's
# CPU microseconds per request), or fails on errors or non-2xx answers (a
# route that answers errors fast looks fast).
run() {
  local url="http://127.0.0.1:$TPORT/$1/hello" out line t0 t1 req
  if (( WARMUP > 0 )); then
    timeout $((WARMUP + 10)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -H "apikey: bench-key" "$url" >/dev/null 2>&1 || true
  fi
  t0=$(ticks "${PID[turnpike]}")
  out=$(timeout $((DURATION + 20)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "apikey: bench-key" \
    -s "$HERE/wrk-result.lua" "$url" 2>&1) || true
  t1=$(ticks "${PID[turnpike]}")
  line=$(grep '^RESULT' <<<"$out") || die "wrk gave no result for /$1: $(head -c 300 <<<"$out")"
  [[ $line == *" errors=0 non2xx=0"* ]] || die "/$1 answered errors: $line"
  RPS=$(sed -n 's/.* rps=\([^ ]*\).*/\1/p' <<<"$line")
  req=$(sed -n 's/.* requests=\([^ ]*\).*/\1/p' <<<"$line")
  US=$(awk -v t=$((t1 - t0)) -v c="$CLK" -v n="$req" 'BEGIN{printf "%.1f", t/c*1e6/n}')
}

log "$ROUNDS rounds x 3 routes x (${WARMUP}s warm-up + ${DURATION}s), $CONNS connections, PIN=$PIN"
printf '\n%-6s %12s %12s %12s %11s %11s   %s\n' round "none req/s" "local req/s" "redis req/s" local/none redis/none \
  "turnpike CPU us/req: none local redis"
RATIOS_LOCAL=()
RATIOS_REDIS=()
CPU_LOCAL=()
CPU_REDIS=()
declare -A R U
for r in $(seq "$ROUNDS"); do
  for route in $ROUTES; do
    kill -0 "${PID[turnpike]}" 2>/dev/null || die "turnpike exited: $(tail -n 5 "$TMP/turnpike.log")"
    run "$route"
    R[$route]=$RPS
    U[$route]=$US
  done
  lr=$(awk -v a="${R[local]}" -v b="${R[none]}" 'BEGIN{printf "%.3f", a/b}')
  rr=$(awk -v a="${R[redis]}" -v b="${R[none]}" 'BEGIN{printf "%.3f", a/b}')
  RATIOS_LOCAL+=("$lr")
  RATIOS_REDIS+=("$rr")
  CPU_LOCAL+=("$(awk -v a="${U[none]}" -v b="${U[local]}" 'BEGIN{printf "%.3f", a/b}')")
  CPU_REDIS+=("$(awk -v a="${U[none]}" -v b="${U[redis]}" 'BEGIN{printf "%.3f", a/b}')")
  printf '%-6s %12.0f %12.0f %12.0f %11s %11s   %s %s %s\n' "$r" "${R[none]}" "${R[local]}" "${R[redis]}" "$lr" "$rr" \
    "${U[none]}" "${U[local]}" "${U[redis]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-6s %12s %12s %12s %11s %11s\n' median "" "" "" "$(median "${RATIOS_LOCAL[@]}")" "$(median "${RATIOS_REDIS[@]}")"
echo "CPU-bound equivalent (none us/req / route us/req, median): local $(median "${CPU_LOCAL[@]}"), redis $(median "${CPU_REDIS[@]}")"
echo "targets: local/none >= 0.85, redis/none >= 0.6"
