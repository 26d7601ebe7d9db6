#!/usr/bin/env bash
# Install the pages' browser assets from npm into server/static/vendor/ (YASGUI for the SPARQL editor;
# cytoscape.js with the fcose layout for /graph), so the server needs no CDN at run time, and a Debian
# CJK font (fonts-wqy-microhei) when no installed font draws Chinese, so `budgetkg graph --format png|svg`
# renders zh labels. Idempotent. With --with-chromium (for the browser tests) it also installs Debian's
# chromium when /usr/bin/chromium is missing. Debian packages are installed only as root, with no prompts.
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
  if [ ! -f "$dist/yasgui.min.js" ] || [ package-lock.json -nt "$dist/yasgui.min.js" ] \
     || [ ! -f node_modules/cytoscape/dist/cytoscape.min.js ] || [ ! -f node_modules/cytoscape-fcose/cytoscape-fcose.js ] \
     || [ package-lock.json -nt node_modules/cytoscape-fcose/cytoscape-fcose.js ] \
     || [ ! -f node_modules/chart.js/dist/chart.umd.js ] || [ ! -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ]; then
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
  # cytoscape.js and the fcose layout (UMD builds, loaded in this order by /graph)
  for src in cytoscape/dist/cytoscape.min.js layout-base/layout-base.js cose-base/cose-base.js \
             cytoscape-fcose/cytoscape-fcose.js; do
    f=$(basename "$src")
    if ! cmp -s "node_modules/$src" "$vendor/$f"; then
      cp "node_modules/$src" "$vendor/$f"
    fi
  done
  cp -f node_modules/cytoscape/package.json "$vendor/cytoscape.package.json"
  echo "setup-assets: cytoscape.js $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$vendor/cytoscape.package.json" | head -1) with fcose in $vendor"
  # Chart.js (charts of query results) and swagger-ui (the /docs page)
  for src in chart.js/dist/chart.umd.js swagger-ui-dist/swagger-ui-bundle.js swagger-ui-dist/swagger-ui.css; do
    f=$(basename "$src")
    if ! cmp -s "node_modules/$src" "$vendor/$f"; then
      cp "node_modules/$src" "$vendor/$f"
    fi
  done
  cp -f node_modules/chart.js/package.json "$vendor/chartjs.package.json"
  cp -f node_modules/swagger-ui-dist/package.json "$vendor/swagger-ui.package.json"
  echo "setup-assets: Chart.js and swagger-ui in $vendor"
fi

# A font that draws Chinese for matplotlib (budgetkg graph --format png|svg). fontconfig's list when it
# is there; else the Debian packages' files.
has_cjk_font() {
  if command -v fc-list >/dev/null 2>&1; then
    [ -n "$(fc-list :lang=zh file 2>/dev/null | head -1)" ]
  else
    ls /usr/share/fonts/truetype/wqy/*.ttc /usr/share/fonts/opentype/noto/NotoSansCJK*.ttc >/dev/null 2>&1
  fi
}
if ! has_cjk_font; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-assets: no font draws Chinese and this is not root: install Debian's 'fonts-wqy-microhei'" \
         "(or fonts-noto-cjk) for zh labels in PNG/SVG graphs" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends fonts-wqy-microhei fontconfig </dev/null
    echo "setup-assets: installed fonts-wqy-microhei (CJK font for PNG/SVG graphs)"
  fi
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
