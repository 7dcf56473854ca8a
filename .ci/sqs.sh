#!/usr/bin/env bash
# Installs local-aws-sqs, the SQS-compatible server the SQS tests start on
# 127.0.0.1 (tests use loopback only), into .ci/sqs/node_modules (ignored by git), unless
# the pinned version is already there, and applies one fix (below).
# Idempotent. Prints the path of the package's folder on its last line.
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

# Fix: local-aws-sqs 2.0.2 counts a ChangeMessageVisibility call as a receive
# (its visibility helper always adds 1 to ApproximateReceiveCount; the third
# argument is true only when called from ChangeMessageVisibility). Real SQS
# counts receives only, and the consumer's max_receives relies on that: a
# message whose visibility is extended while it is processed must not look
# like a message received many times. The Go test
# TestLocalServerCountsReceivesOnly fails if this fix is missing.
js="$pkg/dist/index.js"
buggy='let n=Number(t.record.attributes.ApproximateReceiveCount)+1;'
fixed='let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);'
if grep -qF "$buggy" "$js"; then
  node -e '
    const fs = require("fs");
    const [js, buggy, fixed] = process.argv.slice(1);
    fs.writeFileSync(js, fs.readFileSync(js, "utf8").split(buggy).join(fixed));
  ' "$js" "$buggy" "$fixed"
  echo "local-aws-sqs: patched ApproximateReceiveCount on ChangeMessageVisibility" >&2
fi
if ! grep -qF "$fixed" "$js"; then
  echo "local-aws-sqs: could not apply the ApproximateReceiveCount fix to $js" >&2
  exit 1
fi
echo "local-aws-sqs: $pkg"
