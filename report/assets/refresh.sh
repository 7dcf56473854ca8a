#!/usr/bin/env bash
# Refreshes the vendored uPlot (MIT) from the npm registry: the minified
# IIFE build, its style sheet and its licence, pinned to VERSION below.
# Usage: report/assets/refresh.sh [VERSION]   (then review the diff)
set -euo pipefail
VERSION="${1:-1.6.32}"
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null && tar xzf "uplot-$VERSION.tgz")
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" uplot/
printf '%s\n' "$VERSION" > uplot/VERSION
echo "uplot $VERSION vendored in $(pwd)/uplot"
