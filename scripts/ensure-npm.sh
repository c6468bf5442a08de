#!/usr/bin/env bash
# ensure-npm.sh NAME@VERSION: installs one npm package (and its dependencies)
# into ~/.cache/kubemend/npm/NAME-VERSION when it is missing, then prints the
# node_modules folder to put on NODE_PATH. Used by the browser tests
# (playwright-core); nothing here downloads a browser: the tests drive
# Debian's chromium (scripts/install-deps.sh test).
set -euo pipefail
spec=${1:?usage: ensure-npm.sh NAME@VERSION}
name=${spec%@*}; version=${spec##*@}
[ -n "$name" ] && [ -n "$version" ] && [ "$name" != "$version" ] || { echo "ensure-npm.sh: want NAME@VERSION, got $spec" >&2; exit 2; }
dir=${KUBEMEND_CACHE:-$HOME/.cache/kubemend}/npm/${name//\//_}-$version
if [ ! -f "$dir/.complete" ]; then
  command -v npm >/dev/null || { echo "ensure-npm.sh: npm is not installed (node 20 + npm)" >&2; exit 2; }
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  echo "ensure-npm.sh: installing $spec into $dir" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir.tmp" --no-audit --no-fund \
    --ignore-scripts --save-exact "$spec" >&2
  touch "$dir.tmp/.complete"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir/node_modules"
