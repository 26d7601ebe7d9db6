#!/usr/bin/env bash
# Install the SPARQL editor's browser assets (YASGUI, from npm) into server/static/vendor/, so the
# server needs no CDN at run time. Idempotent. With --with-chromium (for the browser test) it also
# installs Debian's chromium when /usr/bin/chromium is missing (as root, no prompts).
#   scripts/setup-assets.sh [--with-chromium]
set -euo pipefail
cd "$(dirname "$0")/.."

with_chromium=0
for arg in "$@"; do
  case "$arg" in
    --with-chromium) with_chromium=1 ;;
    *) echo "usage: $0 [--with-chromium]" >&2; exit 2 ;;
  esac
done

vendor=server/static/vendor
dist=node_modules/@zazuko/yasgui/build
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-assets: npm is not installed; the SPARQL editor page will say so (the endpoint works without it)" >&2
else
  if [ ! -f "$dist/yasgui.min.js" ] || [ package-lock.json -nt "$dist/yasgui.min.js" ]; then
    if [ -f package-lock.json ]; then
      npm ci --no-audit --no-fund --ignore-scripts
    else
      npm install --no-audit --no-fund --ignore-scripts
    fi
  fi
  mkdir -p "$vendor"
  for f in yasgui.min.js yasgui.min.css; do
    if ! cmp -s "$dist/$f" "$vendor/$f"; then
      cp "$dist/$f" "$vendor/$f"
    fi
  done
  cp -f node_modules/@zazuko/yasgui/package.json "$vendor/yasgui.package.json"
  echo "setup-assets: YASGUI $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$vendor/yasgui.package.json" | head -1) in $vendor"
fi

if [ "$with_chromium" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-assets: chromium is missing and this is not root: install Debian's 'chromium' package" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium </dev/null
fi
