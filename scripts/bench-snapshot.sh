#!/usr/bin/env bash
# Benchmark of the offline snapshot reader: a ~1 GiB etcd snapshot (about a million keys
# with history) read by `dh-migrate snapshot dump` (the live keyspace, every value hashed)
# and `dh-migrate snapshot status`, against `etcdctl snapshot status` (which also walks the
# whole file), in the same run, with peak RSS from /usr/bin/time -v.
#
# Usage: scripts/bench-snapshot.sh [KEYS [VALUE_BYTES]]   (default 1000000 600)
# Env:   BENCH_DATA (default ./bench-data): the snapshot is kept there as
#        snapshot-KEYS-VALUE_BYTES.db and reused by later runs.
#        BENCH_RUNS (default 3): runs per tool; the median wall time is reported.
#        DH_MIGRATE: a dh-migrate binary (default: target/release, built here).
#        SNAPSHOT_LOADER: a built examples/snapshot_bench_load (default: built here).
#        BENCH_GENERATE_ONLY=1: make the snapshot and stop.
# Needs: /usr/bin/etcd, /usr/bin/etcdctl (Debian etcd-server/etcd-client 3.4), /usr/bin/time.
# The data set is made with examples/snapshot_bench_load.rs in transactions of 5000 puts
# against an etcd whose data directory is in /dev/shm (no disk fsync cost) and whose
# request limits are raised for such transactions.
# Note: never name shell variables ETCD_*: etcd reads such environment variables as flags.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
keys="${1:-1000000}"
value_bytes="${2:-600}"
data="${BENCH_DATA:-$repo/bench-data}"
runs="${BENCH_RUNS:-3}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
dh="${DH_MIGRATE:-$target_dir/release/dh-migrate}"
loader="${SNAPSHOT_LOADER:-$target_dir/release/examples/snapshot_bench_load}"
snap="$data/snapshot-$keys-$value_bytes.db"
mkdir -p "$data"

log() { printf '%s\n' "$*" >&2; }

if [[ -z "${DH_MIGRATE:-}" || ! -x "$loader" ]] && [[ -z "${BENCH_GENERATE_ONLY:-}" || ! -x "$loader" ]]; then
    log "building the release binary and the loader"
    (cd "$repo" && cargo build --release --quiet --bin dh-migrate --example snapshot_bench_load)
fi

if [[ ! -s "$snap" ]]; then
    work="$(mktemp -d /dev/shm/dh-bench-snap.XXXXXX)"
    etcd_pid=""
    cleanup() {
        if [[ -n "$etcd_pid" ]]; then
            kill "$etcd_pid" 2>/dev/null || true
            wait "$etcd_pid" 2>/dev/null || true
        fi
        rm -rf "$work"
    }
    trap cleanup EXIT
    read -r client_port peer_port < <(python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
    client_url="http://127.0.0.1:$client_port"
    peer_url="http://127.0.0.1:$peer_port"
    /usr/bin/etcd --name bench --data-dir "$work/data" \
        --listen-client-urls "$client_url" --advertise-client-urls "$client_url" \
        --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
        --initial-cluster "bench=$peer_url" \
        --heartbeat-interval=100 --election-timeout=1000 \
        --max-txn-ops=10000 --max-request-bytes=67108864 \
        --quota-backend-bytes=8589934592 --snapshot-count=1000000 \
        >"$work/etcd.log" 2>&1 &
    etcd_pid=$!
    for _ in $(seq 1 300); do
        if /usr/bin/etcdctl --endpoints="$client_url" endpoint health >/dev/null 2>&1; then
            break
        fi
        kill -0 "$etcd_pid" 2>/dev/null || { cat "$work/etcd.log" >&2; exit 1; }
        sleep 0.1
    done
    log "loading $keys keys with history (values of $value_bytes bytes)"
    "$loader" "$client_url" "$keys" "$value_bytes"
    /usr/bin/etcdctl --endpoints="$client_url" snapshot save "$snap.tmp" >/dev/null
    mv "$snap.tmp" "$snap"
    cleanup
    trap - EXIT
fi

[[ -n "${BENCH_GENERATE_ONLY:-}" ]] && { log "made $snap"; exit 0; }
size=$(stat -c %s "$snap")
log "snapshot: $snap ($((size / 1048576)) MiB)"
# Read the file once so every tool starts from the page cache.
cat "$snap" >/dev/null

# Runs "$@" BENCH_RUNS times; prints "median_seconds max_rss_kib median_cpu_seconds" (CPU:
# user + system, the figure that load from other jobs on a shared machine moves least).
measure() {
    local out times=() cpus=() rss=0 t r c
    for _ in $(seq 1 "$runs"); do
        out="$(/usr/bin/time -v "$@" 2>&1 >/dev/null | grep -E 'Elapsed|Maximum resident|User time|System time')"
        t=$(awk -F': ' '/Elapsed/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' <<<"$out")
        r=$(awk -F': ' '/Maximum resident/ {print $2}' <<<"$out")
        c=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' <<<"$out")
        times+=("$t")
        cpus+=("$c")
        ((r > rss)) && rss=$r
    done
    med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    echo "$(med "${times[@]}") $rss $(med "${cpus[@]}")"
}

read -r t_etcdctl rss_etcdctl c_etcdctl < <(measure /usr/bin/etcdctl snapshot status "$snap" -w json)
read -r t_dump rss_dump c_dump < <(measure "$dh" snapshot dump "$snap")
read -r t_status rss_status c_status < <(measure "$dh" snapshot status "$snap" --format json)
live=$("$dh" snapshot dump "$snap" | wc -l)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-44s %8s %9s %10s %8s %9s\n' "command" "seconds" "x etcdctl" "peak RSS" "CPU s" "x etcdctl"
printf '%-44s %8s %9s %6d MiB %8s %9s\n' "etcdctl snapshot status" "$t_etcdctl" "1.00" $((rss_etcdctl / 1024)) "$c_etcdctl" "1.00"
printf '%-44s %8s %9s %6d MiB %8s %9s\n' "dh-migrate snapshot dump (live keys: $live)" "$t_dump" "$(ratio "$t_dump" "$t_etcdctl")" $((rss_dump / 1024)) "$c_dump" "$(ratio "$c_dump" "$c_etcdctl")"
printf '%-44s %8s %9s %6d MiB %8s %9s\n' "dh-migrate snapshot status" "$t_status" "$(ratio "$t_status" "$t_etcdctl")" $((rss_status / 1024)) "$c_status" "$(ratio "$c_status" "$c_etcdctl")"
echo "snapshot: $((size / 1048576)) MiB, $runs runs each, medians (wall time; CPU = user + system); $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
