# Shared by the bench scripts (sourced, not run): logging, the processes a
# script starts and their cleanup, CPU placement, the Turnpike binary.
# The sourcing script sets TMP (a scratch directory) before using these.

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# Every process a script starts is recorded here (by start) and killed by
# kill_started, TERM first, KILL after 3 s.
PIDS=()
declare -A PID
start() { # start NAME CMD...: background, output to $TMP/NAME.log, pid recorded
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PID[$name]=$!
  PIDS+=("$!")
}
# scratch NAME: TMP, a new directory removed at exit, after every process
# start() began is stopped.
scratch() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/turnpike-$1.XXXXXX")
  trap 'kill_started; rm -rf "$TMP"' EXIT
  trap 'exit 130' INT TERM HUP
}
kill_started() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# place PIN: with PIN=1 the proxy runs alone on CPU 0 and everything else
# on CPU 1 (ON_PROXY and ON_LOAD prefix their commands).
place() {
  if [[ $1 == 1 ]]; then
    (( $(nproc) >= 2 )) || die "PIN=1 needs at least 2 CPUs (have $(nproc)); use PIN=0"
    ON_PROXY=(taskset -c 0)
    ON_LOAD=(taskset -c 1)
  else
    ON_PROXY=()
    ON_LOAD=()
  fi
}

# turnpike_binary ROOT: $TMP/bin/turnpike, copied from TURNPIKE_BIN or
# built from ROOT as the Makefile's build target builds the release
# (GOFLAGS from the environment apply: pgo.sh's -pgo=off).
turnpike_binary() {
  if [[ -n ${TURNPIKE_BIN:-} ]]; then
    [[ -x $TURNPIKE_BIN ]] || die "TURNPIKE_BIN=$TURNPIKE_BIN is not executable"
    cp "$TURNPIKE_BIN" "$TMP/bin/turnpike"
  else
    log "building turnpike (make build)"
    make -C "$1" --no-print-directory build BIN="$TMP/bin/turnpike" >&2 || die "make build failed"
  fi
}

# median X...: the middle value, or the mean of the two middle ones.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# field KEY LINE: the value of KEY=value in a line of key=value pairs.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# port_busy PORT: something listens on the loopback PORT.
port_busy() {
  if command -v ss >/dev/null; then
    [[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}


# answers URL NAME [CURL-ARG...]: up to 10 s for a 200 on URL while NAME
# (started with start) runs; otherwise the last lines of its log, and exit.
answers() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 1 "${@:3}" "$1" 2>/dev/null && return 0
    kill -0 "${PID[$2]}" 2>/dev/null || break
    sleep 0.1
  done
  log "$2 did not answer 200 on $1; last lines of its log:"
  tail -n 20 "$TMP/$2.log" >&2 || true
  exit 1
}
