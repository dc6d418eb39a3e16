#!/usr/bin/env bash
# Install the Debian 12 packages DriverKit needs to build and test, if any are missing.
# Safe to run again: it installs only what is absent. Uses sudo when not root.
set -euo pipefail

packages=(
    gcc clang meson ninja-build pkgconf python3
    libcmocka-dev liburing-dev libinih-dev libseccomp-dev
    libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
