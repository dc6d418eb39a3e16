#!/usr/bin/env bash
# The main job: build DriverKit, start the whole stack in a private runtime directory (supervisor,
# journal, policy, broker, the null device service), run several clients through it, crash the
# driver under them, check every waiter woke and every client reopened, print a summary, stop
# the stack (dkctl demo). No root and no configuration needed beyond scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null
exec build/tools/dkctl/dkctl demo "$@"
