#!/usr/bin/env bash
# Records cmd/turnpike/default.pgo, the CPU profile Go's profile-guided
# optimisation builds the gateway with (`go build` reads it from the main
# package's folder). The workload is bench/run.sh's: the proxy alone on
# CPU 0 (GOMAXPROCS=1) in front of the bench backend, wrk on CPU 1 at 64
# connections, /hello then /json, each for DURATION seconds. The binary
# profiled is built with -pgo=off, so the profile does not feed on itself.
#
#   bench/pgo.sh                      # or: make pgo
#   DURATION=20 PORT_BASE=18950 bench/pgo.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-15}
PORT_BASE=${PORT_BASE:-18950}
[[ $DURATION =~ ^[0-9]+$ && $PORT_BASE =~ ^[0-9]+$ ]] || { echo "DURATION and PORT_BASE are numbers" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/turnpike-pgo.XXXXXX")
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
trap 'kill_started; rm -rf "$TMP"' EXIT
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
place 1

log "building the backend and turnpike (-pgo=off)"
mkdir -p "$TMP/bin"
(cd "$ROOT" && go build -o "$TMP/bin/" ./bench/backend) || die "go build ./bench/backend failed"
TURNPIKE_BIN="" GOFLAGS=-pgo=off turnpike_binary "$ROOT"
BPORT=$PORT_BASE TPORT=$((PORT_BASE + 1))
start backend "${ON_LOAD[@]}" "$TMP/bin/backend" -addr "127.0.0.1:$BPORT"
start turnpike env GOMAXPROCS=1 BENCH_BACKEND_URL="http://127.0.0.1:$BPORT" TURNPIKE_CPU_PROFILE="$TMP/cpu.pprof" \
  "${ON_PROXY[@]}" "$TMP/bin/turnpike" run --expand-env -c "$HERE/turnpike.yml" \
  --proxy-listen "127.0.0.1:$TPORT" --admin-listen off --access-log off
answers "http://127.0.0.1:$TPORT/hello" turnpike
for ep in /hello /json; do
  log "load on $ep for ${DURATION}s"
  "${ON_LOAD[@]}" wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$TPORT$ep" >/dev/null
done
# SIGTERM drains the gateway; it writes the profile as it returns.
kill -TERM "${PID[turnpike]}"
for _ in $(seq 100); do kill -0 "${PID[turnpike]}" 2>/dev/null || break; sleep 0.1; done
[[ -s $TMP/cpu.pprof ]] || die "no profile written; see $TMP/turnpike.log"
cp "$TMP/cpu.pprof" "$ROOT/cmd/turnpike/default.pgo"
log "wrote cmd/turnpike/default.pgo ($(wc -c <"$ROOT/cmd/turnpike/default.pgo") bytes)"
