#!/bin/sh
# The engine as an installed library, end to end (CTest: `install`):
#   1. `cmake --install` the build into a fresh prefix; check what is there and what is not;
#   2. against that prefix only (find_package(ferry)): compile every installed header (headers/),
#      then configure and build examples/embed_server;
#   3. run it on 127.0.0.1 beside the project's HTTPS origin, POST a download, long-poll its state
#      until it is done, and check the file landed byte for byte; then stop it with SIGTERM.
#
#   install_test.sh SOURCE_DIR BUILD_DIR FERRY_BINARY WORK_DIR CXX_COMPILER BUILD_TYPE [LAUNCHER]
#
# WORK_DIR is emptied first and keeps a fixed path, so that ccache recognises the example's
# compile from one run to the next.
set -eu

source_dir=$1 build_dir=$2 ferry=$3 work=$4 cxx=$5 build_type=$6 launcher=${7:-}
prefix=$work/prefix
# Everything here is on 127.0.0.1: no proxy from the environment, for curl or for the engine.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
downloads=$work/downloads

started=$(date +%s)
step() { echo "install test [$(($(date +%s) - started)) s]: $*"; }
fail() { echo "install test: FAILED: $*" >&2; exit 1; }

pids=""
stop_all() { for pid in $pids; do kill "$pid" 2>/dev/null || true; done; }
trap stop_all EXIT

rm -rf "$work"
mkdir -p "$work" "$downloads"

step "cmake --install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
config=$(find "$prefix" -name ferryConfig.cmake)
[ -n "$config" ] || fail "no ferryConfig.cmake under $prefix"
[ -f "$(dirname "$config")/ferryConfigVersion.cmake" ] || fail "no ferryConfigVersion.cmake beside $config"
[ -f "$prefix/include/ferry/engine/engine.hpp" ] || fail "no include/ferry/engine/engine.hpp"
[ -x "$prefix/bin/ferry" ] || fail "no bin/ferry"
find "$prefix" -name 'libferry_engine.a' | grep -q . || fail "no libferry_engine.a"
# Test fixtures and the CLI's internals stay out.
leaked=$(cd "$prefix" && find . -path '*origin*' -o -path '*tools*' -o -path '*test*' -o -name '*.cpp')
[ -z "$leaked" ] || fail "installed, but should not be: $leaked"
# Every project header an installed header includes is installed too.
for header in $(cd "$prefix/include/ferry" && find . -name '*.hpp'); do
    for included in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$prefix/include/ferry/$header"); do
        [ -f "$prefix/include/ferry/$included" ] || fail "$header includes $included, which is not installed"
    done
done

# Configures and builds the CMake project in $1 into $work/$2 against the prefix only, with the
# compiler of the build; -Werror: the installed headers compile without warnings in a program
# built with -Wall -Wextra. Further arguments go to the configure step.
build_against_prefix() {
    project=$1 name=$2
    shift 2
    cmake -S "$project" -B "$work/$name" "$@" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_COMPILER="$cxx" \
        ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} \
        -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" > "$work/$name.configure.log" 2>&1 \
        || { cat "$work/$name.configure.log"; fail "configuring $name"; }
    grep -qx "ferry_DIR:PATH=$(dirname "$config")" "$work/$name/CMakeCache.txt" \
        || fail "$name: find_package(ferry) did not take the package in $prefix: $(grep ferry_DIR "$work/$name/CMakeCache.txt")"
    nice cmake --build "$work/$name" -j2 > "$work/$name.build.log" 2>&1 || { cat "$work/$name.build.log"; fail "building $name"; }
}

step "compile every installed header against the package"
build_against_prefix "$source_dir/test/install/headers" installed_headers -DFERRY_INCLUDE_DIR="$prefix/include/ferry"

step "build examples/embed_server against the prefix only"
build_against_prefix "$source_dir/examples/embed_server" embed_server

# Starts a program in the background and reads the first line it prints, through a FIFO kept
# open on file descriptor $1 (the program's later output fits in the pipe): no sleeping.
first_line=""
start() {
    fd=$1 name=$2
    shift 2
    mkfifo "$work/$name.out"
    "$@" > "$work/$name.out" 2> "$work/$name.err" &
    pids="$pids $!"
    last_pid=$!
    eval "exec $fd< \"\$work/\$name.out\""
    read -r first_line <&"$fd" || { cat "$work/$name.err" >&2; fail "$name exited before it was ready"; }
}

step "run the origin and the example"
start 3 origin "$ferry" origin --synthetic x.bin:5M --write-ca "$work/ca.pem"
url=$(echo "$first_line" | sed -n 's/^ferry origin: serving \(https:[^ ]*\) .*/\1/p')x.bin
start 4 embed_server "$work/embed_server/embed_server" --port 0 --dir "$downloads" --ca-cert "$work/ca.pem"
server_pid=$last_pid
server=$(echo "$first_line" | sed -n 's/^embed_server: listening on \(http:.*\)$/\1/p')
[ -n "$server" ] || fail "embed_server printed: $first_line"

expected=$(curl -sS --cacert "$work/ca.pem" "$url" | sha256sum | cut -d' ' -f1)

step "POST $server/downloads for $url"
added=$(curl -sS -X POST -H 'Content-Type: application/json' \
    -d "{\"url\": \"$url\", \"path\": \"x.bin\", \"sha256\": \"$expected\"}" "$server/downloads")
id=$(echo "$added" | sed -n 's/^{"id":"\([^"]*\)"}$/\1/p')
[ -n "$id" ] || fail "POST /downloads answered: $added"

# Long polls of 5 s each, 12 at most.
polls=0
while :; do
    state=$(curl -sS "$server/downloads/$id?wait=5")
    case $state in
    *'"state":"done"'*) break ;;
    *'"state":"failed"'*) fail "the download failed: $state" ;;
    esac
    polls=$((polls + 1))
    [ "$polls" -lt 12 ] || fail "not done after 60 s: $state"
done
step "GET /downloads/$id: $state"

got=$(sha256sum "$downloads/x.bin" | cut -d' ' -f1)
[ "$got" = "$expected" ] || fail "x.bin has sha256 $got, the origin's is $expected"
[ "$(ls -A "$downloads")" = x.bin ] || fail "left beside x.bin: $(ls -A "$downloads")"

status=$(curl -sS -o /dev/null -w '%{http_code}' "$server/downloads/no-such-id")
[ "$status" = 404 ] || fail "GET of an unknown id answered $status"
status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d "{\"url\": \"$url\", \"path\": \"../x.bin\"}" "$server/downloads")
[ "$status" = 400 ] || fail "POST of a path with .. answered $status"

kill -TERM "$server_pid"
wait "$server_pid" || fail "embed_server exited with status $? after SIGTERM"
pids=$(echo "$pids" | sed "s/ $server_pid\b//")
step "passed"
