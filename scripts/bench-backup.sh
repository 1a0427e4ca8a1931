#!/usr/bin/env bash
# Benchmark: `dh-migrate backup --all` of a large synthetic cluster against the plain way
# of taking the same backup, in the same run, on the same etcd:
#
#   dh-migrate backup -a    etcd snapshot through the maintenance API (SHA-256 trailer
#                           checked), 10,000+ configuration items exported, the node's
#                           configuration files copied, manifest, flush, full verification
#                           by the bundle reader, rename
#   baseline                `etcdctl snapshot save` into a folder, then `tar -cf` of that
#                           snapshot and the same configuration files
#
# The etcd is loaded once: the configuration items of a gen-synthetic.py bundle (10,000
# schemas, 500 DIS configs, property files, PQs, ACLs: about 10,600 items) written with
# 128-operation transactions (examples/raw_txn_baseline.rs), plus filler keys outside the
# layout prefix until etcd's database is about BENCH_SNAPSHOT_MIB (default 1024) MiB.
# Each side runs BENCH_RUNS times (default 3); medians are compared. dh-migrate's peak
# RSS comes from /usr/bin/time.
#
#   scripts/bench-backup.sh          # generates bench-data/backup/ when missing
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
runs=${BENCH_RUNS:-3}
snapshot_mib=${BENCH_SNAPSHOT_MIB:-1024}
data="$repo/bench-data/backup"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
scripts/ensure-deps.sh
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time for the peak RSS (Debian: apt-get install time)" >&2; exit 2; }
for v in $(env | grep -oE '^(ETCD|ETCDCTL)_[A-Z_]+' || true); do unset "$v"; done

if [[ ! -f "$data/generated.json" ]]; then
  echo "generating $data (10,000 schemas, 500 DIS configs)" >&2
  python3 scripts/gen-synthetic.py "$data" --schemas 10000 --dis 500 --snapshot-mib 1 --no-tarball --force >&2
fi
echo "building release binaries" >&2
cargo build --release --quiet --bin dh-migrate --example raw_txn_baseline
dhm="$target_dir/release/dh-migrate"
raw="$target_dir/release/examples/raw_txn_baseline"

work="$(mktemp -d)"
etcd_pid=""
stop_etcd() { if [[ -n "$etcd_pid" ]]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; etcd_pid=""; fi; }
trap 'stop_etcd; rm -rf "$work"' EXIT

read -r cp pp < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
url="http://127.0.0.1:$cp"
etcd --name bench --data-dir "$work/etcd" --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
  --initial-cluster "bench=http://127.0.0.1:$pp" --heartbeat-interval=10 --election-timeout=100 \
  --quota-backend-bytes=$((8*1024*1024*1024)) >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 200); do
  etcdctl --endpoints="$url" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done

echo "loading the configuration items" >&2
"$raw" "$url" "$data/bundle" >&2
db_mib() { etcdctl --endpoints="$url" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"] // 1048576)'; }
echo "adding filler keys outside the layout prefix up to ~$snapshot_mib MiB" >&2
head -c $((1024*1024 - 4096)) /dev/urandom >"$work/filler"
i=0
while (( $(db_mib) < snapshot_mib )); do
  for _ in $(seq 1 64); do
    etcdctl --endpoints="$url" put "/bench-filler/$i" <"$work/filler" >/dev/null
    i=$((i + 1))
  done
done
# Items of the default layout (v2): one `file` part each under its prefix.
items=$(etcdctl --endpoints="$url" get --prefix /main/ --keys-only | grep -c '/file$' || true)
echo "etcd: $items configuration items, database $(db_mib) MiB" >&2

files_root="$data/bundle/files"
mkdir -p "$work/db"
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

dh_times=(); dh_rss=(); base_times=(); save_times=(); bundle_mib=""
for run in $(seq 1 "$runs"); do
  rm -rf "$work/dh" "$work/base"
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$dhm" backup -a -u "$(id -un)" -d "$work/dh" \
    --endpoints "$url" --files-root "$files_root" --db-root "$work/db" >"$work/dh.out"
  t1=$(now)
  dh_times+=("$(sub "$t1" "$t0")")
  dh_rss+=("$(tail -n 1 "$work/rss")")
  bundle=$(tail -n 1 "$work/dh.out")
  bundle_mib=$(du -sm "$bundle" | cut -f1)

  mkdir -p "$work/base"
  t0=$(now)
  etcdctl --endpoints="$url" snapshot save "$work/base/snapshot.db" >/dev/null
  t1=$(now)
  tar -cf "$work/base/backup.tar" -C "$work/base" snapshot.db -C "$files_root" etc
  t2=$(now)
  save_times+=("$(sub "$t1" "$t0")")
  base_times+=("$(sub "$t2" "$t0")")
  echo "run $run: dh-migrate ${dh_times[-1]} s (${dh_rss[-1]} KiB peak RSS, bundle $bundle_mib MiB); baseline ${base_times[-1]} s (snapshot save ${save_times[-1]} s)" >&2
done
stop_etcd
a=$(printf '%s\n' "${dh_times[@]}" | median)
b=$(printf '%s\n' "${base_times[@]}" | median)
s=$(printf '%s\n' "${save_times[@]}" | median)
rss=$(printf '%s\n' "${dh_rss[@]}" | median)
rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
printf 'backup benchmark: %s configuration items, etcd database ~%s MiB, median of %s runs\n' "$items" "$snapshot_mib" "$runs"
printf '  dh-migrate backup -a (snapshot + items + files, manifest, verify, rename): %.3f s, peak RSS %s MiB, bundle %s MiB\n' "$a" "$rss_mib" "$bundle_mib"
printf '  baseline: etcdctl snapshot save + tar -cf (snapshot and the same files):  %.3f s (snapshot save alone %.3f s)\n' "$b" "$s"
printf '  ratio dh-migrate / baseline: %s  (target <= 1.20); peak RSS %s MiB (target < 100)\n' \
  "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" "$rss_mib"
