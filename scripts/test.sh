#!/usr/bin/env bash
# Build DriverKit and run the whole test suite.
#
#   scripts/test.sh            gcc build, every suite (unit, multiproc, stress, fuzz-replay,
#                              demo, bench smoke test)
#   scripts/test.sh --asan     the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh --tsan     the stress suite under ThreadSanitizer
#   scripts/test.sh --clang    clang build of every suite, with the libFuzzer target built too
#
# Prints a closing line "N passed, M failed" counting every test case; exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-plain}"
scripts/deps.sh

case "$mode" in
plain)
    dir=build
    opts=()
    suites=()
    ;;
--asan)
    dir=build-asan
    opts=(-Db_sanitize=address,undefined -Dbuildtype=debug)
    suites=()
    ;;
--tsan)
    dir=build-tsan
    opts=(-Db_sanitize=thread -Dbuildtype=debugoptimized)
    suites=(--suite stress)
    ;;
--clang)
    dir=build-clang
    opts=(-Dfuzz=true)
    suites=()
    export CC=clang
    ;;
*)
    echo "usage: scripts/test.sh [--asan|--tsan|--clang]" >&2
    exit 2
    ;;
esac

if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null

status=0
meson test -C "$dir" --no-rebuild --print-errorlogs "${suites[@]}" || status=$?

python3 scripts/test-summary.py "$dir/meson-logs/testlog.json" || status=1
exit $status
