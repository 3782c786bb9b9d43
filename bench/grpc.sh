#!/usr/bin/env bash
# Transcoding benchmark: Turnpike's CPU per request for a REST call
# transcoded to a unary gRPC method (GET /v1/users/{id} through the
# grpc-gateway plugin, descriptors from the upstream's reflection) beside
# the same gateway proxying a plain HTTP/1.1 JSON request whose answer has
# the same size, measured interleaved in one run on 127.0.0.1 only. Issue 15
# sets the goal: the transcoded request costs at most 2x the CPU.
# See bench/README.md.
#
#   bench/grpc.sh                          # 5 rounds x 5 s per route
#   ROUNDS=1 DURATION=2 bench/grpc.sh      # smoke test
#
# Knobs (environment):
#   ROUNDS=5  DURATION=5  WARMUP=1  CONNS=64  THREADS=1
#   PIN=1 (turnpike alone on CPU 0; wrk and the backend on CPU 1) | 0
#   PORT_BASE=18400 (backend gRPC; backend HTTP +1, turnpike +2)
#   TURNPIKE_BIN=<prebuilt binary> (default: build ./cmd/turnpike)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PIN=${PIN:-1}
PORT_BASE=${PORT_BASE:-18400}
# shellcheck source=lib.sh
source "$HERE/lib.sh"

for v in ROUNDS DURATION WARMUP CONNS THREADS PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( ROUNDS >= 1 && DURATION >= 1 && CONNS >= 1 && THREADS >= 1 )) || die "ROUNDS, DURATION, CONNS and THREADS must be >= 1"
for cmd in wrk curl taskset go; do
  command -v "$cmd" >/dev/null || die "$cmd is missing (apt-get install wrk curl util-linux)"
done

scratch grpc-bench
place "$PIN"

GPORT=$PORT_BASE
HPORT=$((PORT_BASE + 1))
TPORT=$((PORT_BASE + 2))
for p in $GPORT $HPORT $TPORT; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && die "port $p is in use; pick another PORT_BASE"
done

mkdir -p "$TMP/bin"
log "building grpcbackend"
(cd "$ROOT" && go build -o "$TMP/bin/" ./bench/grpcbackend) || die "go build ./bench/grpcbackend failed"
turnpike_binary "$ROOT"

start backend "${ON_LOAD[@]}" "$TMP/bin/grpcbackend" -grpc "127.0.0.1:$GPORT" -http "127.0.0.1:$HPORT"
cat >"$TMP/turnpike.yml" <<YML
_format_version: "3.0"
services:
- name: rest
  url: http://127.0.0.1:$HPORT
  routes:
  - {name: rest, paths: [/rest]}
- name: users
  url: grpc://127.0.0.1:$GPORT
  routes:
  - name: grpc
    paths: [/grpc]
    plugins:
    - name: grpc-gateway
YML
start turnpike env GOMAXPROCS=1 "${ON_PROXY[@]}" "$TMP/bin/turnpike" run -c "$TMP/turnpike.yml" \
  --proxy-listen "127.0.0.1:$TPORT" --admin-listen off --access-log off

declare -A URL=([rest]="http://127.0.0.1:$TPORT/rest/user" [grpc]="http://127.0.0.1:$TPORT/grpc/v1/users/1")
declare -A BODY
for route in rest grpc; do
  ok=0
  for _ in $(seq 100); do
    if BODY[$route]=$(curl -fsS --max-time 1 "${URL[$route]}" 2>/dev/null); then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [[ $ok != 1 ]]; then
    tail -n 20 "$TMP/turnpike.log" "$TMP/backend.log" >&2 || true
    die "${URL[$route]} did not answer 200"
  fi
done
# The comparison is fair only if both answers are the same JSON.
[[ ${BODY[rest]} == "${BODY[grpc]}" ]] || log "warning: bodies differ: rest ${#BODY[rest]} B, grpc ${#BODY[grpc]} B: ${BODY[grpc]}"

{
  echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
  echo "go:      $(go version)"
  echo "wrk:     $(wrk -v 2>&1 | head -n 1)"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "bodies:  rest ${#BODY[rest]} B, grpc ${#BODY[grpc]} B"
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS THREADS=$THREADS PIN=$PIN bench/grpc.sh"
}

CLK=$(getconf CLK_TCK)
ticks() { # utime+stime of a pid, in clock ticks
  local f a
  f=$(cat "/proc/$1/stat") || die "process $1 is gone"
  f=${f##*) }
  read -r -a a <<<"$f"
  echo $((a[11] + a[12]))
}
# run ROUTE: one wrk run; sets RPS and US (Turnpike's CPU microseconds per
# request), or fails on errors or non-2xx answers.
run() {
  local url=${URL[$1]} out line t0 t1 req
  if (( WARMUP > 0 )); then
    timeout $((WARMUP + 10)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
  fi
  t0=$(ticks "${PID[turnpike]}")
  out=$(timeout $((DURATION + 20)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
    -s "$HERE/wrk-result.lua" "$url" 2>&1) || true
  t1=$(ticks "${PID[turnpike]}")
  line=$(grep '^RESULT' <<<"$out") || die "wrk gave no result for $1: $(head -c 300 <<<"$out")"
  [[ $line == *" errors=0 non2xx=0"* ]] || die "$1 answered errors: $line"
  RPS=$(sed -n 's/.* rps=\([^ ]*\).*/\1/p' <<<"$line")
  req=$(sed -n 's/.* requests=\([^ ]*\).*/\1/p' <<<"$line")
  US=$(awk -v t=$((t1 - t0)) -v c="$CLK" -v n="$req" 'BEGIN{printf "%.1f", t/c*1e6/n}')
}

log "$ROUNDS rounds x (rest, grpc) x (${WARMUP}s warm-up + ${DURATION}s), $CONNS connections, PIN=$PIN"
printf '\n%-6s %-6s %12s %12s %12s\n' round route "req/s" "CPU us/req" "CPU / rest"
declare -A U
CPU=""
for r in $(seq "$ROUNDS"); do
  for route in rest grpc; do
    kill -0 "${PID[turnpike]}" 2>/dev/null || die "turnpike exited: $(tail -n 5 "$TMP/turnpike.log")"
    run "$route"
    U[$route]=$US
    cr=$(awk -v a="$US" -v b="${U[rest]}" 'BEGIN{printf "%.3f", a/b}')
    printf '%-6s %-6s %12.0f %12s %12s\n' "$r" "$route" "$RPS" "$US" "$cr"
  done
  CPU+="$cr "
done
echo
# shellcheck disable=SC2086
echo "median CPU per request, transcoded / plain over $ROUNDS rounds: $(median $CPU) (goal <= 2)"
