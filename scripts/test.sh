#!/usr/bin/env bash
# The test command: installs what the tests need when missing, then runs every test
# (unit, property, corpus, golden, CLI, real-etcd and pseudo-terminal tests) and closes
# with one line of totals.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
# Tests start their own etcd servers; etcd reads ETCD_* variables as flags and etcdctl
# reads ETCDCTL_*: keep the caller's out of the way.
for v in $(env | grep -oE '^(ETCD|ETCDCTL)_[A-Z_]+' || true); do unset "$v"; done
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Library, binary and integration tests (the benchmark example has none; clippy builds it).
cargo test --lib --bins --tests "$@" 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
