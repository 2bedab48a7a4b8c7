#!/bin/sh
# Installs the Debian 12 packages ferry needs to build, test and benchmark.
# A no-op when everything is there; otherwise one `apt-get update`, then `apt-get install -y`.
# prometheus is there for its promtool (test/engine/metrics_test.cpp checks /metrics with it); on a
# machine run by systemd the package also enables a prometheus service, which ferry does not need.
set -eu

packages="g++ cmake make ccache pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
libssl-dev zlib1g-dev doctest-dev nginx-light curl aria2 openssl procps time python3 tinyproxy microsocks
prometheus wrk nghttp2-client iproute2 nodejs npm"
# npm comes with NodeSource's nodejs (which conflicts with Debian's npm package): ask for it only
# when there is no npm at all.
if command -v npm >/dev/null 2>&1; then
    packages=$(echo "$packages" | sed 's/ npm$//')
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "ferry: installing$missing" >&2
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
