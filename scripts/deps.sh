#!/usr/bin/env bash
# Installs the system packages the test suite needs, only when missing.
# Each entry is "command:debian-package".
set -euo pipefail
# redis-server: the rate-limiting tests start real Redis servers.
needs=(
  redis-server:redis-server
)
missing=()
for entry in "${needs[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
