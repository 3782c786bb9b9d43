#!/usr/bin/env bash
# Installs the system packages the test suite needs, only when missing,
# and fetches the promtool binary the metrics tests use when they can.
set -euo pipefail
# redis-server: the rate-limiting tests start real Redis servers.
# slapd: the ldap-auth tests start real OpenLDAP servers (the package
# brings slapadd too; installing it may also start a system slapd on port
# 389, which the tests leave alone: they run their own on free ports).
# chromium: the dashboard's browser tests drive Debian's chromium
# headless through chromedp.
needs=(redis-server slapd chromium)
# promtool: the metrics tests check the /metrics exposition with
# `promtool check metrics` when it is on PATH, and skip that part when
# not. Only the binary is taken from Debian's prometheus package, into
# bin/tools (the Makefile puts it on the tests' PATH): installing the
# package would also enable and start a Prometheus server on :9090.
# Getting it never fails the build.
tools="$(cd "$(dirname "$0")/.." && pwd)/bin/tools"
# A marker younger than a day says Debian had no prometheus package
# here, so later runs do not refresh the apt index again to find out.
# Delete it (or `make clean`) to try again at once.
missing_marker="$tools/prometheus.unavailable"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
updated=""
# apt_update refreshes the package index once per run.
apt_update() {
  [ -n "$updated" ] && return 0
  updated=1
  $SUDO apt-get update -qq
}

missing=()
for cmd in "${needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# fetch_promtool extracts usr/bin/promtool from the prometheus package
# into $tools without installing the package.
fetch_promtool() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "not fetching promtool: no apt-get or dpkg-deb; its tests are skipped"
    return 0
  fi
  if [ -n "$(find "$missing_marker" -mmin -1440 2>/dev/null)" ]; then
    echo "not fetching promtool: no prometheus package here (checked within a day, $missing_marker); its tests are skipped"
    return 0
  fi
  if ! apt-cache show prometheus >/dev/null 2>&1; then
    if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
      echo "not fetching promtool: the apt index has no prometheus and there is no root to refresh it; its tests are skipped"
      return 0
    fi
    if ! apt_update >/dev/null 2>&1 || ! apt-cache show prometheus >/dev/null 2>&1; then
      mkdir -p "$tools" && touch "$missing_marker"
      echo "not fetching promtool: no prometheus package here (or apt-get update failed); its tests are skipped"
      return 0
    fi
  fi
  local tmp
  tmp=$(mktemp -d)
  # As root, apt-get downloads as the _apt user when that user can write
  # the directory (and warns, and downloads as root, when not).
  [ "$(id -u)" -ne 0 ] || chown _apt "$tmp" 2>/dev/null || true
  if (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) &&
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" &&
    mkdir -p "$tools" && install -m 0755 "$tmp/root/usr/bin/promtool" "$tools/promtool"; then
    echo "fetched promtool into $tools"
  else
    echo "fetching promtool failed; its tests are skipped"
  fi
  rm -rf "$tmp"
}
if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$tools/promtool" ]; then
  fetch_promtool
fi
