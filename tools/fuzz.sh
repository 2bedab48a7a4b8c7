#!/usr/bin/env bash
# Builds the libFuzzer targets in test/fuzz/ with clang (-fsanitize=fuzzer,address,undefined) and
# runs each one for SECONDS (default 30), starting from its seed corpus in test/fuzz/corpus/TARGET.
# Exits non-zero when a target crashes, leaks, times out or trips a sanitizer; the input that did
# it is left in $BUILD/artifacts/TARGET/ (replay: $BUILD/TARGET FILE).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]      targets: manifest http_fields url journal rpc
#
# Environment: FERRY_FUZZ_BUILD (default build-fuzz beside the source tree), CXX (default clang++).
# Installs clang and its runtime libraries from Debian when they are missing (needs root or sudo).
set -euo pipefail

seconds=${1:-30}
shift || true
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build=${FERRY_FUZZ_BUILD:-$source_dir/../build-fuzz}
mkdir -p "$build"
build=$(cd "$build" && pwd)
all_targets=(manifest http_fields url journal rpc)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

# clang and libFuzzer (Debian 12: clang 14, runtime in libclang-rt-14-dev).
cxx=${CXX:-clang++}
if ! command -v "$cxx" >/dev/null || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
        "$cxx" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
    echo "fuzz.sh: installing clang and libclang-rt-14-dev" >&2
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
    $sudo_cmd apt-get install -y clang libclang-rt-14-dev >&2
    cxx=clang++
fi

# The library sources the targets need, compiled once with coverage instrumentation. Asio and
# Beast are used header-only here (net/error.cpp only needs their error categories), so
# net/boost_impl.cpp is not needed.
sources=(engine/manifest.cpp engine/model.cpp memory/part_file.cpp memory/sha256.cpp net/url.cpp
         net/error.cpp net/http_fields.cpp memory/resume_journal.cpp queue/byte_range.cpp
         memory/hub_cache_names.cpp queue/priority.cpp tools/serve/rpc_dispatch.cpp perf/latency_histogram.cpp)
# -fno-sanitize=function: clang 14's check of indirect calls cannot compile coroutines ("Cannot
# represent a difference across sections"), and tools/serve/rpc_dispatch.cpp is made of them.
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -I"$source_dir" -DBOOST_ASIO_NO_DEPRECATED
       -fsanitize=address,undefined -fno-sanitize=function -fno-sanitize-recover=undefined -Wall -Wextra)
libs=(-lboost_json -lboost_url -lssl -lcrypto -lpthread)

mkdir -p "$build/obj"
objects=()
for src in "${sources[@]}"; do
    obj="$build/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$source_dir/$src" -nt "$obj" ] || [ -n "$(find "$source_dir" -name '*.hpp' -newer "$obj" -print -quit)" ]; then
        echo "fuzz.sh: compiling $src" >&2
        "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$source_dir/$src" -o "$obj"
    fi
    objects+=("$obj")
done

for target in "${targets[@]}"; do
    echo "fuzz.sh: building fuzz_$target" >&2
    "$cxx" "${flags[@]}" -fsanitize=fuzzer "$source_dir/test/fuzz/fuzz_$target.cpp" "${objects[@]}" "${libs[@]}" \
        -o "$build/fuzz_$target"
done

status=0
summary=""
for target in "${targets[@]}"; do
    seeds="$source_dir/test/fuzz/corpus/$target"
    work="$build/corpus/$target"       # grows while fuzzing; the committed seeds stay as they are
    artifacts="$build/artifacts/$target/"
    mkdir -p "$work" "$artifacts"
    log="$build/fuzz_$target.log"
    echo "fuzz.sh: running fuzz_$target for ${seconds}s" >&2
    set +e
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(find "$work" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        line="fuzz_$target: ok, $runs runs in ${seconds}s, corpus $corpus inputs"
    else
        line="fuzz_$target: FAILED (exit $rc), see $log and $artifacts"
        status=1
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2 || true
    fi
    echo "$line" >&2
    summary+="$line"$'\n'
done
printf '%s' "$summary"
exit $status
