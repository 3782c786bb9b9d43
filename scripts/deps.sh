#!/usr/bin/env bash
# Installs the system packages the test suite needs, only when missing.
# Each entry is "command:debian-package".
set -euo pipefail
# redis-server: the rate-limiting tests start real Redis servers.
needs=(
  redis-server:redis-server
)
# promtool: the metrics tests check the /metrics exposition with
# `promtool check metrics` when it is there, and skip that part when not,
# so it is installed only where apt can, and never fails the build.
wants=(
  promtool:prometheus
)
missing=()
for entry in "${needs[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
optional=()
for entry in "${wants[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || optional+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for pkg in "${optional[@]}"; do
  if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; }; then
    echo "not installing $pkg: no apt-get, or no root; its tests are skipped"
    continue
  fi
  # Only when Debian has the package, after refreshing the index.
  if { $SUDO apt-get update -qq && apt-cache show "$pkg"; } >/dev/null 2>&1; then
    echo "installing: $pkg"
    $SUDO apt-get install -y -qq --no-install-recommends "$pkg" ||
      echo "installing $pkg failed; its tests are skipped"
  else
    echo "not installing $pkg: no such Debian package here (or apt-get update failed); its tests are skipped"
  fi
done
