#!/usr/bin/env bash
# Installs versitygw, the S3-compatible server the S3 and daemon tests start on
# 127.0.0.1 (tests use loopback only), unless it is already there. Idempotent. Prints the
# path of the binary on its last line.
set -euo pipefail
version=v1.8.0
bin="$(go env GOPATH)/bin/versitygw"
if [ -n "${VERSITYGW:-}" ] && [ -x "${VERSITYGW}" ]; then
  bin="${VERSITYGW}"
elif command -v versitygw >/dev/null 2>&1; then
  bin="$(command -v versitygw)"
elif [ ! -x "$bin" ]; then
  echo "installing versitygw ${version} (go install, takes a few minutes)" >&2
  go install "github.com/versity/versitygw/cmd/versitygw@${version}"
fi
if [ ! -x "$bin" ]; then
  echo "versitygw: not found after install" >&2
  exit 1
fi
echo "versitygw: $bin"
