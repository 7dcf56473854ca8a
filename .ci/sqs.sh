#!/usr/bin/env bash
# Installs local-aws-sqs, the SQS-compatible server the SQS tests start on
# 127.0.0.1 (DESIGN.md §8), into .ci/sqs/node_modules (ignored by git), unless
# the pinned version is already there. Idempotent. Prints the path of the
# package's folder on its last line.
set -euo pipefail
cd "$(dirname "$0")"
version=2.0.2
prefix="$PWD/sqs"
pkg="$prefix/node_modules/local-aws-sqs"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "local-aws-sqs: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi
installed=""
if [ -f "$pkg/package.json" ]; then
  installed=$(node -p "require('$pkg/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$version" ]; then
  echo "installing local-aws-sqs ${version} (npm)" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock \
    "local-aws-sqs@${version}" >&2
fi
if [ ! -f "$pkg/package.json" ]; then
  echo "local-aws-sqs: not found after install" >&2
  exit 1
fi
echo "local-aws-sqs: $pkg"
