#!/usr/bin/env bash
# Installs the test prerequisites on a fresh Debian machine and runs every test (unit, conformance,
# sipp and baresip black-box tests against the release binaries). This is README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(sip-tester baresip nats-server redis-server chromium chromium-driver openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Release profile: the black-box tests drive the release binaries, as operators run them.
cargo test --workspace --release --locked "$@"
