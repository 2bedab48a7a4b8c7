#!/usr/bin/env bash
# Builds the project and its tests with sanitizers and runs them through CTest.
#
#   tools/sanitize.sh address [CTEST ARGS...]   AddressSanitizer + UndefinedBehaviorSanitizer, build-asan/
#   tools/sanitize.sh thread  [CTEST ARGS...]   ThreadSanitizer, build-tsan/
#
# Extra arguments go to ctest, e.g. `tools/sanitize.sh thread -R reliability`. The build
# directories are inside the source tree, git-ignored like build/ (override with
# FERRY_SANITIZE_BUILD); FERRY_BUILD_TARGETS
# (e.g. "ferry test_reliability") builds only those; FERRY_BUILD_JOBS sets the parallelism
# (default 2). Exits with ctest's status. Leak checking is on for ASan; any sanitizer report fails
# the test that made it.
set -euo pipefail

kind=${1:-}
shift || true
source_dir=$(cd "$(dirname "$0")/.." && pwd)
case "$kind" in
address)
    sanitizers=address,undefined
    # At -O1 gcc 12 takes Asio's coroutine frame allocator (aligned_new, then its own operator
    # delete) for a mismatched pair: a false report inside Boost's headers.
    extra_flags=-Wno-mismatched-new-delete
    build=${FERRY_SANITIZE_BUILD:-$source_dir/build-asan}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
thread)
    sanitizers=thread
    build=${FERRY_SANITIZE_BUILD:-$source_dir/build-tsan}
    # gcc warns that TSan does not model Asio's atomic_thread_fence (std_fenced_block): known,
    # and nothing the build can change.
    extra_flags="-Wno-tsan -Wno-mismatched-new-delete"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
    ;;
*)
    echo "usage: tools/sanitize.sh address|thread [CTEST ARGS...]" >&2
    exit 2
    ;;
esac

jobs=${FERRY_BUILD_JOBS:-2}
# -O1 with line tables only: a heavy translation unit compiles in a third of the time of -O2 -g
# (the build dominates CI); stack traces still name file and line.
cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_SANITIZE="$sanitizers" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS="${extra_flags:-}"
if [ -n "${FERRY_BUILD_TARGETS:-}" ]; then
    # shellcheck disable=SC2086 # a list of target names
    cmake --build "$build" -j"$jobs" --target $FERRY_BUILD_TARGETS
else
    cmake --build "$build" -j"$jobs"
fi
cd "$build"
run=()
if [ "$kind" = thread ] && command -v setarch >/dev/null; then
    # Without address-space randomisation: on kernels with more mmap randomisation bits than
    # this TSan runtime knows (vm.mmap_rnd_bits = 32), it dies with "unexpected memory mapping".
    run=(setarch "$(uname -m)" --addr-no-randomize)
fi
"${run[@]}" ctest --output-on-failure --timeout 1800 "$@"
