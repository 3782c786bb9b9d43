#!/usr/bin/env bash
# Load benchmark of Turnpike against the direct backend and NGINX, as a
# proxy and as a cache (proxy-cache vs proxy_cache, warm: every request a
# hit), and compressing a 10 KiB JSON body (NGINX gzip against Turnpike's
# compression plugin with gzip, br and zstd), on loopback only, interleaved
# in one run. See bench/README.md.
#
#   bench/run.sh                                   # full default matrix
#   TARGETS="direct nginx" ROUNDS=1 DURATION=3 bench/run.sh
#   TARGETS="nginx turnpike nginx-gzip turnpike-gzip turnpike-br turnpike-zstd" \
#     ENDPOINTS=/json10k LAT=0 ROUNDS=5 bench/run.sh   # compression
#
# Knobs (environment):
#   TARGETS="direct nginx turnpike nginx-cache turnpike-cache"  ENDPOINTS="/hello /json"
#     (also nginx-gzip turnpike-gzip turnpike-br turnpike-zstd; endpoint /json10k;
#     turnpike-net: the proxy on net/http's HTTP/1 server, --http1-server net;
#     floor-go, floor-loop: bench/floor, the least a Go proxy can do, on goroutines or an epoll loop)
#   ROUNDS=3  DURATION=10  WARMUP=2  CONNS=64  THREADS=1
#   PIN=1 (proxy alone on CPU 0; wrk, loadgen and backend on CPU 1) | 0
#   LAT=1  LAT_RATE=1000  LAT_N=10000  LAT_WARMUP=1000  LAT_CONNS=16
#   LAT_PATH=/hello  LAT_ROUNDS=$ROUNDS
#   FOREIGN_MAX=10 (% of a core)  RETRIES=2  RETRY_WAIT=5 (s)
#   PORT_BASE=18100 (backend; nginx +1, turnpike +2, nginx-cache +3, turnpike-cache +4,
#     nginx-gzip +5, turnpike-gzip +6, turnpike-br +7, turnpike-zstd +8, turnpike-net +9,
#     floor-go +10, floor-loop +11)
#   OUTDIR=${TMPDIR:-/tmp}/turnpike-bench/<stamp>
#   TURNPIKE_BIN=<prebuilt binary with turnpike's command line> (default: build ./cmd/turnpike)
#   TURNPIKE_GODEBUG=<GODEBUG for the turnpike, turnpike-net and turnpike-cache targets only>
#     (schedtrace=2147483647: docs/operations.md, "Latency on a single pinned CPU")
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

TARGETS=${TARGETS:-"direct nginx turnpike nginx-cache turnpike-cache"}
ENDPOINTS=${ENDPOINTS:-"/hello /json"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PIN=${PIN:-1}
LAT=${LAT:-1}
LAT_RATE=${LAT_RATE:-1000}
LAT_N=${LAT_N:-10000}
LAT_WARMUP=${LAT_WARMUP:-1000}
LAT_CONNS=${LAT_CONNS:-16}
LAT_PATH=${LAT_PATH:-/hello}
LAT_ROUNDS=${LAT_ROUNDS:-$ROUNDS}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-2}
RETRY_WAIT=${RETRY_WAIT:-5}
PORT_BASE=${PORT_BASE:-18100}
STAMP=$(date +%Y%m%d-%H%M%S)
OUTDIR=${OUTDIR:-${TMPDIR:-/tmp}/turnpike-bench/$STAMP}

# shellcheck source=lib.sh
source "$HERE/lib.sh"

for v in ROUNDS DURATION WARMUP CONNS THREADS LAT_RATE LAT_N LAT_WARMUP LAT_CONNS LAT_ROUNDS FOREIGN_MAX RETRIES RETRY_WAIT PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( ROUNDS >= 1 && DURATION >= 1 && CONNS >= 1 && THREADS >= 1 && LAT_RATE >= 1 && LAT_N >= 1 )) ||
  die "ROUNDS, DURATION, CONNS, THREADS, LAT_RATE and LAT_N must be >= 1"
for t in $TARGETS; do
  case $t in
    direct|nginx|turnpike|turnpike-net|nginx-cache|turnpike-cache|nginx-gzip|turnpike-gzip|turnpike-br|turnpike-zstd|floor-go|floor-loop) ;;
    *) die "unknown target '$t' (direct, nginx, turnpike, turnpike-net, nginx-cache, turnpike-cache, nginx-gzip, turnpike-gzip, turnpike-br, turnpike-zstd, floor-go, floor-loop)" ;;
  esac
done
for ep in $ENDPOINTS $LAT_PATH; do
  case $ep in /hello|/json|/json10k) ;; *) die "unknown endpoint '$ep' (/hello, /json, /json10k)" ;; esac
done

# --- cleanup: every process started here is killed by pid --------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/turnpike-bench-tmp.XXXXXX")
chmod 755 "$TMP"
POLICY_INSTALLED=0
cleanup() {
  restore_policy
  kill_started
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- install what is missing (Debian) ----------------------------------------
# Packaged services must not start: a deny-all policy-rc.d is in place during
# apt-get install only. An existing policy-rc.d is saved and put back.
restore_policy() {
  [[ $POLICY_INSTALLED == 1 ]] || return 0
  if [[ -e $TMP/policy-rc.d.saved ]]; then
    cp -p "$TMP/policy-rc.d.saved" /usr/sbin/policy-rc.d
  else
    rm -f /usr/sbin/policy-rc.d
  fi
  POLICY_INSTALLED=0
}
install_missing() {
  local pkgs=()
  command -v wrk >/dev/null || pkgs+=(wrk)
  if [[ " $TARGETS " =~ " nginx"(-cache|-gzip)?" " ]] && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    pkgs+=(nginx-light)
  fi
  command -v taskset >/dev/null || pkgs+=(util-linux)
  command -v curl >/dev/null || pkgs+=(curl)
  [[ ${#pkgs[@]} -gt 0 ]] || return 0
  [[ $EUID == 0 ]] || die "missing ${pkgs[*]}; run as root or install them: apt-get install ${pkgs[*]}"
  command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get to install them"
  log "installing ${pkgs[*]}"
  [[ -e /usr/sbin/policy-rc.d ]] && cp -p /usr/sbin/policy-rc.d "$TMP/policy-rc.d.saved"
  POLICY_INSTALLED=1
  printf '#!/bin/sh\n# bench/run.sh: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  if ! timeout 300 apt-get update >"$TMP/apt.log" 2>&1 ||
    ! DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$TMP/apt.log" 2>&1; then
    tail -n 20 "$TMP/apt.log" >&2
    die "installing ${pkgs[*]} failed"
  fi
  restore_policy
}
install_missing
export PATH=$PATH:/usr/sbin:/sbin

# --- CPU placement ----------------------------------------------------------
NCPU=$(nproc)
place "$PIN"
CLK=$(getconf CLK_TCK)

# --- ports ------------------------------------------------------------------
BPORT=$PORT_BASE
declare -A PORT=([direct]=$BPORT [nginx]=$((PORT_BASE + 1)) [turnpike]=$((PORT_BASE + 2))
  [nginx-cache]=$((PORT_BASE + 3)) [turnpike-cache]=$((PORT_BASE + 4)) [nginx-gzip]=$((PORT_BASE + 5))
  [turnpike-gzip]=$((PORT_BASE + 6)) [turnpike-br]=$((PORT_BASE + 7)) [turnpike-zstd]=$((PORT_BASE + 8))
  [turnpike-net]=$((PORT_BASE + 9)) [floor-go]=$((PORT_BASE + 10)) [floor-loop]=$((PORT_BASE + 11)))
# coding_of TARGET: the content coding a compression target is asked for
# (its wrk and check requests send it in Accept-Encoding); none for others.
coding_of() {
  case $1 in
    nginx-gzip|turnpike-gzip) echo gzip ;;
    turnpike-br) echo br ;;
    turnpike-zstd) echo zstd ;;
  esac
}
for p in "${PORT[@]}"; do
  port_busy "$p" && die "port $p is in use; pick another PORT_BASE"
done

# --- build ------------------------------------------------------------------
mkdir -p "$TMP/bin" "$OUTDIR"
log "building backend, loadgen, report, floor"
(cd "$ROOT" && go build -o "$TMP/bin/" ./bench/backend ./bench/loadgen ./bench/report ./bench/decode ./bench/floor) || die "go build of bench/ failed"
if [[ " $TARGETS " =~ " turnpike"(-[a-z]+)?" " ]]; then
  turnpike_binary "$ROOT"
fi

# --- start ------------------------------------------------------------------
declare -A URL
start backend "${ON_LOAD[@]}" "$TMP/bin/backend" -addr "127.0.0.1:$BPORT"
URL[backend]=http://127.0.0.1:$BPORT
answers "${URL[backend]}/hello" backend
URL[direct]=${URL[backend]}
export BENCH_BACKEND_URL=${URL[backend]}

# One NGINX serves all of its targets (plain, caching and gzip server blocks);
# each Turnpike target is its own process, so its CPU is its own.
nginx_started=0
for t in $TARGETS; do
  case $t in
    nginx|nginx-cache|nginx-gzip)
      if [[ $nginx_started == 0 ]]; then
        user=""
        [[ $EUID == 0 ]] && user="user root;"
        conf=$(<"$HERE/nginx.conf")
        conf=${conf//@TMP@/$TMP}
        conf=${conf//@PORT@/${PORT[nginx]}}
        conf=${conf//@CACHE_PORT@/${PORT[nginx-cache]}}
        conf=${conf//@GZIP_PORT@/${PORT[nginx-gzip]}}
        conf=${conf//@BACKEND_PORT@/$BPORT}
        conf=${conf//@USER@/$user}
        printf '%s\n' "$conf" >"$TMP/nginx.conf"
        start nginx "${ON_PROXY[@]}" nginx -p "$TMP" -e "$TMP/nginx.err" -c "$TMP/nginx.conf"
        nginx_started=1
      fi
      PID[$t]=${PID[nginx]}
      ;;
    turnpike|turnpike-cache|turnpike-net)
      conf=$HERE/turnpike.yml
      [[ $t == turnpike-cache ]] && conf=$HERE/turnpike-cache.yml
      server=own
      [[ $t == turnpike-net ]] && server=net
      start "$t" env GOMAXPROCS=1 ${TURNPIKE_GODEBUG:+GODEBUG=$TURNPIKE_GODEBUG} "${ON_PROXY[@]}" "$TMP/bin/turnpike" run --expand-env -c "$conf" \
        --proxy-listen "127.0.0.1:${PORT[$t]}" --admin-listen off --access-log off --http1-server "$server"
      ;;
    turnpike-gzip|turnpike-br|turnpike-zstd)
      start "$t" env GOMAXPROCS=1 BENCH_ENCODING="$(coding_of "$t")" "${ON_PROXY[@]}" "$TMP/bin/turnpike" run --expand-env \
        -c "$HERE/turnpike-compress.yml" --proxy-listen "127.0.0.1:${PORT[$t]}" --admin-listen off --access-log off
      ;;
    floor-go|floor-loop)
      mode=goroutine
      [[ $t == floor-loop ]] && mode=loop
      start "$t" env GOMAXPROCS=1 "${ON_PROXY[@]}" "$TMP/bin/floor" -mode "$mode" -listen "127.0.0.1:${PORT[$t]}" \
        -backend "127.0.0.1:$BPORT"
      ;;
  esac
  URL[$t]=http://127.0.0.1:${PORT[$t]}
done
# warm_check NAME PATH: a cache target answers PATH from its cache (its
# X-Cache-Status says hit), so that every measured request is a hit.
warm_check() {
  local st _
  for _ in 1 2 3; do
    st=$(curl -fsS --max-time 2 -o /dev/null -D - "${URL[$1]}$2" | tr -d '\r' |
      sed -n 's/^[Xx]-[Cc]ache-[Ss]tatus: *//p')
    [[ ${st,,} == hit ]] && return 0
  done
  die "$1: $2 is not served from the cache (X-Cache-Status: '${st:-none}')"
}
# compress_check NAME PATH CODING MD5: a compression target answers PATH
# in CODING, and the body decodes to the backend's bytes; its size goes to
# sizes.tsv (bytes saved per response).
printf 'target\tendpoint\tcoding\tidentity_bytes\tencoded_bytes\tsaved_pct\n' >"$OUTDIR/sizes.tsv"
compress_check() {
  local enc body ident
  curl -fsS --max-time 2 -H "Accept-Encoding: $3" -D "$TMP/check.head" -o "$TMP/check.body" "${URL[$1]}$2" ||
    die "$1: GET $2 failed"
  enc=$(tr -d '\r' <"$TMP/check.head" | sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p')
  [[ $enc == "$3" ]] || {
    [[ $2 == /hello ]] && return 0 # too short to compress
    die "$1: $2 is not answered in $3 (Content-Encoding: '${enc:-none}')"
  }
  [[ $("$TMP/bin/decode" -coding "$3" <"$TMP/check.body" | md5sum) == "$4" ]] ||
    die "$1: $2 does not decode to the backend's bytes"
  body=$(stat -c %s "$TMP/check.body")
  ident=$(curl -fsS --max-time 2 "${URL[direct]}$2" | wc -c)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ident" "$body" \
    "$(awk -v i="$ident" -v b="$body" 'BEGIN{printf "%.1f", (1-b/i)*100}')" >>"$OUTDIR/sizes.tsv"
  log "$1: $2 in $3: $body bytes for $ident"
}
for t in $TARGETS; do
  [[ $t == direct ]] && continue
  answers "${URL[$t]}/hello" "$t"
  for ep in $ENDPOINTS $LAT_PATH; do # a proxy must return the backend's bytes
    a=$(curl -fsS --max-time 2 "${URL[direct]}$ep" | md5sum)
    b=$(curl -fsS --max-time 2 "${URL[$t]}$ep" | md5sum)
    [[ $a == "$b" ]] || die "$t: body of $ep differs from the backend's"
    if [[ $t == *-cache ]]; then warm_check "$t" "$ep"; fi
    coding=$(coding_of "$t")
    [[ -n $coding ]] && compress_check "$t" "$ep" "$coding" "$a"
  done
done

# --- machine ----------------------------------------------------------------
{
  echo "date:    $(date -Is)"
  echo "nproc:   $NCPU"
  echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "kernel:  $(uname -r)"
  echo "os:      $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")"
  echo "go:      $(go version)"
  echo "nginx:   $(nginx -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk:     $(wrk -v 2>&1 | head -n 1)"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "command: TARGETS=\"$TARGETS\" ENDPOINTS=\"$ENDPOINTS\" ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS THREADS=$THREADS PIN=$PIN LAT=$LAT LAT_RATE=$LAT_RATE LAT_N=$LAT_N LAT_CONNS=$LAT_CONNS LAT_PATH=$LAT_PATH LAT_ROUNDS=$LAT_ROUNDS bench/run.sh"
} >"$OUTDIR/machine.txt"
cat "$OUTDIR/machine.txt"
echo

# --- measurement --------------------------------------------------------------
ticks() { # "TOTAL USER": utime+stime and utime (clock ticks) of PID and its direct children (nginx workers)
  local s=0 u=0 c f a
  for c in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    f=$(cat "/proc/$c/stat" 2>/dev/null) || continue
    f=${f##*) }                                 # fields from 3 on; comm may contain spaces
    read -r -a a <<<"$f"
    s=$((s + a[11] + a[12]))                    # fields 14 (utime) and 15 (stime)
    u=$((u + a[11]))
  done
  echo "$s $u"
}
busy() { # busy ticks of all CPUs (user+nice+system+irq+softirq)
  awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat
}
alive() { # alive NAME: the backend and the target must still run
  local n
  for n in backend "$1"; do
    [[ -z ${PID[$n]:-} ]] || kill -0 "${PID[$n]}" 2>/dev/null || {
      log "$n exited during the run; last lines of its log:"
      tail -n 20 "$TMP/$n.log" >&2 || true
      exit 1
    }
  done
}
# measure NAME CMD...: runs CMD (the load generator) and sets M_OUT (its
# output), M_PROXY and M_PROXY_USER (proxy ticks: all, user space only),
# M_FOREIGN (CPU of processes outside the benchmark, % of one core) and M_TRIES. The load generator's own CPU comes
# from the wrapping shell's cutime+cstime. Re-runs up to RETRIES times while
# foreign CPU is above FOREIGN_MAX.
measure() {
  local name=$1; shift
  local pid=${PID[$name]:-} try p0 p1 u0 u1 b0 b1 c0 c1 t0 t1 out gen _
  for try in $(seq 0 "$RETRIES"); do
    alive "$name"
    p0=0; p1=0; u0=0; u1=0
    [[ -n $pid ]] && read -r p0 u0 < <(ticks "$pid")
    read -r b0 _ < <(ticks "${PID[backend]}"); c0=$(busy); t0=$(date +%s%N)
    out=$(bash -c '"$@"; rc=$?; s=$(cat /proc/$$/stat); s=${s##*) }; set -- $s; echo "GEN_TICKS ${14} ${15}"; exit $rc' _ "$@" 2>&1) || true
    t1=$(date +%s%N); c1=$(busy); read -r b1 _ < <(ticks "${PID[backend]}")
    [[ -n $pid ]] && read -r p1 u1 < <(ticks "$pid")
    gen=$(awk '/^GEN_TICKS/{print $2+$3}' <<<"$out")
    M_OUT=$out
    M_PROXY=$((p1 - p0))
    M_PROXY_USER=$((u1 - u0))
    M_FOREIGN=$(awk -v all=$((c1 - c0)) -v own=$((p1 - p0 + b1 - b0 + ${gen:-0})) -v clk="$CLK" -v ns=$((t1 - t0)) \
      'BEGIN{f=(all-own)/clk/(ns/1e9)*100; printf "%.0f", (f<0?0:f)}')
    M_TRIES=$((try + 1))
    (( M_FOREIGN <= FOREIGN_MAX )) && return 0
    (( try < RETRIES )) && { log "  foreign CPU ${M_FOREIGN}% of a core (> ${FOREIGN_MAX}%) during $name: measuring again"; sleep "$RETRY_WAIT"; }
  done
  return 0
}

TP=$OUTDIR/throughput.tsv
LT=$OUTDIR/latency.tsv
printf 'round\tendpoint\ttarget\trequests\tsecs\trps\tp50_us\tp99_us\terrors\tnon2xx\tproxy_ticks\tproxy_cpu_pct\tcpu_us_per_req\tforeign_pct\ttries\tuser_us_per_req\n' >"$TP"
printf 'round\ttarget\tpath\tn\ttarget_rps\tachieved_rps\tok\terrors\tnon2xx\tsvc_p50_us\tsvc_p99_us\tlat_p50_us\tlat_p99_us\tlag_p99_us\tforeign_pct\ttries\n' >"$LT"

cells=$((ROUNDS * $(wc -w <<<"$ENDPOINTS") * $(wc -w <<<"$TARGETS")))
log "throughput: $cells cells of ${WARMUP}s warm-up + ${DURATION}s, $CONNS connections, $THREADS wrk thread(s), PIN=$PIN"
for r in $(seq "$ROUNDS"); do
  for ep in $ENDPOINTS; do
    for t in $TARGETS; do
      url=${URL[$t]}$ep
      hdr=()
      coding=$(coding_of "$t")
      [[ -n $coding ]] && hdr=(-H "Accept-Encoding: $coding")
      if (( WARMUP > 0 )); then
        timeout $((WARMUP + 10)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
      fi
      measure "$t" timeout $((DURATION + 20)) "${ON_LOAD[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
        --latency -s "$HERE/wrk-result.lua" "${hdr[@]}" "$url"
      line=$(grep '^RESULT' <<<"$M_OUT" || true)
      if [[ -z $line ]]; then
        log "round $r $ep $t: wrk gave no result: $(head -c 300 <<<"$M_OUT")"
        continue
      fi
      req=$(field requests "$line"); secs=$(field secs "$line")
      cpu_pct=NA; us_req=NA; user_req=NA
      if [[ $t != direct ]]; then
        cpu_pct=$(awk -v t="$M_PROXY" -v c="$CLK" -v s="$secs" 'BEGIN{printf "%.1f", t/c/s*100}')
        us_req=$(awk -v t="$M_PROXY" -v c="$CLK" -v n="$req" 'BEGIN{if(n>0) printf "%.2f", t/c*1e6/n; else print "NA"}')
        user_req=$(awk -v t="$M_PROXY_USER" -v c="$CLK" -v n="$req" 'BEGIN{if(n>0) printf "%.2f", t/c*1e6/n; else print "NA"}')
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$ep" "$t" "$req" "$secs" \
        "$(field rps "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field errors "$line")" \
        "$(field non2xx "$line")" "$M_PROXY" "$cpu_pct" "$us_req" "$M_FOREIGN" "$M_TRIES" "$user_req" >>"$TP"
      cpu_msg=""
      [[ $t != direct ]] && cpu_msg=" proxy CPU ${cpu_pct}% ${us_req}us/req (user ${user_req})"
      log "round $r $ep $t: $(field rps "$line") req/s p50=$(field p50_us "$line")us p99=$(field p99_us "$line")us$cpu_msg foreign=${M_FOREIGN}%"
    done
  done
done

if [[ $LAT == 1 ]]; then
  lat_secs=$(( (LAT_N + LAT_WARMUP) / LAT_RATE + 1 ))
  log "latency: open loop $LAT_RATE req/s on $LAT_PATH, $LAT_WARMUP + $LAT_N requests per run, $LAT_ROUNDS round(s)"
  for r in $(seq "$LAT_ROUNDS"); do
    for t in $TARGETS; do
      measure "$t" timeout $((lat_secs + 30)) "${ON_LOAD[@]}" "$TMP/bin/loadgen" -url "${URL[$t]}$LAT_PATH" \
        -rate "$LAT_RATE" -n "$LAT_N" -warmup "$LAT_WARMUP" -c "$LAT_CONNS" -max "$((lat_secs + 20))s"
      line=$(grep '^RESULT' <<<"$M_OUT" || true)
      if [[ -z $line ]]; then
        log "latency round $r $t: loadgen gave no result: $(head -c 300 <<<"$M_OUT")"
        continue
      fi
      printf '%s\t%s\t%s\t%s' "$r" "$t" "$LAT_PATH" "$LAT_N" >>"$LT"
      for k in target_rps achieved_rps ok errors non2xx svc_p50_us svc_p99_us lat_p50_us lat_p99_us lag_p99_us; do
        printf '\t%s' "$(field "$k" "$line")" >>"$LT"
      done
      printf '\t%s\t%s\n' "$M_FOREIGN" "$M_TRIES" >>"$LT"
      log "latency round $r $t: svc p50=$(field svc_p50_us "$line")us p99=$(field svc_p99_us "$line")us ok=$(field ok "$line") errors=$(field errors "$line") foreign=${M_FOREIGN}%"
    done
  done
fi

echo
"$TMP/bin/report" -dir "$OUTDIR" -foreign-max "$FOREIGN_MAX" | tee "$OUTDIR/report.txt"
if [[ $(wc -l <"$OUTDIR/sizes.tsv") -gt 1 ]]; then
  echo
  echo "Response sizes (bytes saved per response):"
  tee -a "$OUTDIR/report.txt" <"$OUTDIR/sizes.tsv"
fi
log "raw results: $OUTDIR (machine.txt throughput.tsv latency.tsv report.txt)"
