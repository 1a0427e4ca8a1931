#!/usr/bin/env bash
# Benchmark: `dh-migrate inspect bundle.tar.gz` against the baseline of unpacking the same
# archive with tar and checking its MANIFEST.sha256 with sha256sum, on the large synthetic
# data set (scripts/gen-synthetic.py). Prints the median of BENCH_RUNS runs of each, the
# ratio dh-migrate / baseline (target <= 1.0) and dh-migrate's peak RSS (target < 100 MiB).
#
# Usage: scripts/bench-inspect.sh            (env: BENCH_DATA, BENCH_RUNS, DH_MIGRATE)
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

[[ -x /usr/bin/time ]] || { log "needs /usr/bin/time for the peak RSS (Debian: apt-get install time)"; exit 2; }
ensure_binary
ensure_data
tarball=$BENCH_DATA/bundle.tar.gz
warm "$tarball"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-inspect.XXXXXX")
trap 'rm -rf "$work"' EXIT

dh_times=() dh_rss=() base_times=()
for run in $(seq "$BENCH_RUNS"); do
    t0=$(now_ns)
    /usr/bin/time -f %M -o "$work/rss" "$DH_MIGRATE" inspect "$tarball" >/dev/null
    t1=$(now_ns)
    dh_times+=("$(elapsed "$t0" "$t1")")
    dh_rss+=("$(tail -n 1 "$work/rss")")

    mkdir "$work/x"
    t0=$(now_ns)
    tar -xzf "$tarball" -C "$work/x"
    top=$(ls "$work/x")
    (cd "$work/x/$top" && sha256sum --quiet -c MANIFEST.sha256)
    t1=$(now_ns)
    base_times+=("$(elapsed "$t0" "$t1")")
    rm -rf "$work/x"
    log "run $run: dh-migrate ${dh_times[-1]} s (${dh_rss[-1]} KiB), baseline ${base_times[-1]} s"
done

dh=$(median "${dh_times[@]}")
base=$(median "${base_times[@]}")
rss_kib=$(median "${dh_rss[@]}")
rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
r=$(ratio "$dh" "$base")
echo "archive:                $tarball ($(du -m "$tarball" | cut -f1) MiB)"
echo "dh-migrate inspect:     $dh s (median of $BENCH_RUNS)"
echo "baseline tar+sha256sum: $base s (median of $BENCH_RUNS)"
echo "ratio:                  $r (target <= 1.0): $(awk -v r="$r" 'BEGIN { print (r <= 1.0) ? "met" : "MISSED" }')"
echo "peak RSS:               $rss_mib MiB (target < 100 MiB): $(awk -v m="$rss_mib" 'BEGIN { print (m < 100) ? "met" : "MISSED" }')"
