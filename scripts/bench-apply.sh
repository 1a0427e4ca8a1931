#!/usr/bin/env bash
# Benchmark: `dh-migrate apply` of a large synthetic cluster (>= 10,000 etcd keys) into a
# fresh local etcd, against a raw baseline in the same run: the same keys and values
# written by a minimal loop of 128-operation transactions (examples/raw_txn_baseline.rs).
# Each side runs BENCH_RUNS times (default 3), each on a fresh etcd; medians are compared.
#
#   scripts/bench-apply.sh            # generates bench-data/apply/ when missing
#   BENCH_LAYOUT=templates/etcd-layout-v1.yaml scripts/bench-apply.sh
#                                     # both sides with another etcd layout (default: the
#                                     # built-in one, version 2: file and name keys per item)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
runs=${BENCH_RUNS:-3}
layout_args=(); layout_file=""
if [[ -n "${BENCH_LAYOUT:-}" ]]; then
  layout_file="$(cd "$(dirname "$BENCH_LAYOUT")" && pwd)/$(basename "$BENCH_LAYOUT")"
  layout_args=(--layout "$layout_file")
fi
data="$repo/bench-data/apply"
scripts/ensure-deps.sh
for v in $(env | grep -oE '^(ETCD|ETCDCTL)_[A-Z_]+' || true); do unset "$v"; done

if [[ ! -d "$data/bundle" ]]; then
  echo "generating $data (10,000 schemas, 500 DIS configs)" >&2
  python3 scripts/gen-synthetic.py "$data" --schemas 10000 --dis 500 --snapshot-mib 0 --no-tarball >&2
fi
echo "building release binaries" >&2
cargo build --release --quiet --bin dh-migrate --example raw_txn_baseline
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
dhm="$target_dir/release/dh-migrate"
raw="$target_dir/release/examples/raw_txn_baseline"

work="$(mktemp -d)"
etcd_pid=""
stop_etcd() { if [[ -n "$etcd_pid" ]]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; etcd_pid=""; fi; }
trap 'stop_etcd; rm -rf "$work"' EXIT

start_etcd() { # fresh etcd, empty data dir; sets $url
  stop_etcd
  rm -rf "$work/etcd"
  read -r cp pp < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
  url="http://127.0.0.1:$cp"
  etcd --name bench --data-dir "$work/etcd" --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "bench=http://127.0.0.1:$pp" --heartbeat-interval=10 --election-timeout=100 \
    --quota-backend-bytes=$((4*1024*1024*1024)) >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 200); do
    etcdctl --endpoints="$url" --dial-timeout=1s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/etcd.log" >&2; exit 1
}

now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "migrated tree for the baseline (plan --emit)" >&2
"$dhm" plan "$data/bundle" --target "$data/target" --mapping "$data/mapping.yaml" --emit "$work/emitted" --diff none "${layout_args[@]}" >/dev/null

apply_times=(); raw_times=(); keys=""
for i in $(seq 1 "$runs"); do
  start_etcd
  t0=$(now)
  "$dhm" apply "$data/bundle" --mapping "$data/mapping.yaml" --endpoints "$url" --yes --diff none "${layout_args[@]}" \
    --run-record "$work/run-$i.json" >/dev/null 2>"$work/apply.err"
  t1=$(now)
  apply_times+=("$(sub "$t1" "$t0")")
  keys=$(etcdctl --endpoints="$url" get --prefix / --keys-only | grep -c . || true)
  start_etcd
  t0=$(now)
  out=$("$raw" "$url" "$work/emitted" $layout_file)
  t1=$(now)
  raw_times+=("$(sub "$t1" "$t0")")
  raw_keys=${out%% *}
  echo "run $i: apply ${apply_times[-1]} s ($keys keys); baseline ${raw_times[-1]} s ($raw_keys keys)" >&2
done
stop_etcd
a=$(printf '%s\n' "${apply_times[@]}" | median)
b=$(printf '%s\n' "${raw_times[@]}" | median)
printf 'apply benchmark: %s keys written into a fresh etcd, median of %s runs\n' "$keys" "$runs"
printf '  dh-migrate apply (read bundle, verify, parse, migrate, plan, guarded batches, run record): %.3f s\n' "$a"
printf '  raw baseline (same keys and values, 128-op transactions, no guards):                     %.3f s\n' "$b"
printf '  ratio apply / baseline: %s  (target <= 1.5)\n' "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
