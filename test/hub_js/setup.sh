#!/bin/sh
# setup.sh SOURCE_DIR DEST_DIR: installs the npm packages of SOURCE_DIR (test/hub_js, test/aria2_js)
# into DEST_DIR (the build tree's hub_js, aria2_js), with its scripts (*.mjs) beside them. Run by the
# hub_js_setup and aria2_js_setup CTest fixtures; messages are prefixed NAME_setup, NAME being
# SOURCE_DIR's last component.
# `npm ci` from the committed lock file; skipped when DEST_DIR already holds that lock's packages,
# and --prefer-offline so that a rerun after a clean build takes them from npm's cache.
set -eu
src=$(cd "$1" && pwd)
dest=$2
name="$(basename "$src")_setup"

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$name: $tool is not installed (sh tools/install-deps.sh installs nodejs and npm)" >&2
        exit 1
    }
done

mkdir -p "$dest"
for path in "$src/package.json" "$src/package-lock.json" "$src"/*.mjs; do
    [ -f "$path" ] || continue
    f=$(basename "$path")
    cmp -s "$path" "$dest/$f" || cp "$path" "$dest/$f"
done

stamp="$dest/node_modules/.ferry-installed-lock"
if [ -f "$stamp" ] && cmp -s "$dest/package-lock.json" "$stamp"; then
    echo "$name: $dest/node_modules is up to date"
else
    npm ci --prefix "$dest" --no-audit --no-fund --prefer-offline --loglevel=error
    cp "$dest/package-lock.json" "$stamp"
fi

# Every dependency installed is the version pinned in package.json (exact versions only).
SRC="$src" DEST="$dest" NAME="$name" node -e '
const path = require("path");
const { dependencies = {} } = require(path.join(process.env.SRC, "package.json"));
const seen = [];
let bad = false;
for (const [pkg, pinned] of Object.entries(dependencies)) {
  const installed = require(path.join(process.env.DEST, "node_modules", pkg, "package.json")).version;
  if (installed !== pinned) {
    console.error(`${process.env.NAME}: ${pkg} ${installed} installed, ${pinned} pinned`);
    bad = true;
  }
  seen.push(`${pkg} ${installed}`);
}
if (bad) process.exit(1);
console.log(`${process.env.NAME}: ${seen.join(", ")} (node ${process.version}) in ${process.env.DEST}`);
'
