#!/bin/sh
# setup.sh SOURCE_DIR DEST_DIR: installs the npm packages of SOURCE_DIR (test/hub_js) into DEST_DIR
# (the build tree's hub_js), with its scripts beside them. Run by the hub_js_setup CTest fixture.
# `npm ci` from the committed lock file; skipped when DEST_DIR already holds that lock's packages,
# and --prefer-offline so that a rerun after a clean build takes them from npm's cache.
set -eu
src=$1
dest=$2

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "hub_js_setup: $tool is not installed (sh tools/install-deps.sh installs nodejs and npm)" >&2
        exit 1
    }
done

mkdir -p "$dest"
for f in package.json package-lock.json download.mjs scan.mjs; do
    cmp -s "$src/$f" "$dest/$f" || cp "$src/$f" "$dest/$f"
done

stamp="$dest/node_modules/.ferry-installed-lock"
if [ -f "$stamp" ] && cmp -s "$dest/package-lock.json" "$stamp"; then
    echo "hub_js_setup: $dest/node_modules is up to date"
else
    npm ci --prefix "$dest" --no-audit --no-fund --prefer-offline --loglevel=error
    cp "$dest/package-lock.json" "$stamp"
fi

# The version installed is the one pinned.
pinned=$(node -p "require('$src/package.json').dependencies['@huggingface/hub']")
installed=$(node -p "require('$dest/node_modules/@huggingface/hub/package.json').version")
if [ "$pinned" != "$installed" ]; then
    echo "hub_js_setup: @huggingface/hub $installed installed, $pinned pinned" >&2
    exit 1
fi
echo "hub_js_setup: @huggingface/hub $installed ($(node --version)) in $dest"
