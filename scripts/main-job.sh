#!/usr/bin/env bash
# The main job: build DriverKit and run the core objects across two processes (dk-demo).
# No root and no configuration needed beyond the packages scripts/deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null
exec build/tools/dk-demo/dk-demo "$@"
