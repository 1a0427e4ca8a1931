#!/usr/bin/env bash
# Benchmark: `dh-migrate plan bundle --target target --mapping mapping.yaml --emit DIR`
# against the baseline `diff -ru bundle target` on the large synthetic data set
# (scripts/gen-synthetic.py). Prints the median of BENCH_RUNS runs of each, the ratio
# dh-migrate / baseline (target <= 1.5), the number of references rewritten (from the
# plan's summary) and the time per 1,000 references rewritten.
#
# For context (docs/benchmarks.md) it also times, once per run, the plan without --emit
# (emit fsyncs every file it writes) and a baseline that reads what the plan must read:
# `sha256sum -c MANIFEST.sha256` on the bundle, then the same diff.
#
# Usage: scripts/bench-plan.sh               (env: BENCH_DATA, BENCH_RUNS, DH_MIGRATE)
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

[[ -x /usr/bin/time ]] || { log "needs /usr/bin/time for the peak RSS (Debian: apt-get install time)"; exit 2; }
ensure_binary
ensure_data
bundle=$BENCH_DATA/bundle
target=$BENCH_DATA/target
mapping=$BENCH_DATA/mapping.yaml

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-plan.XXXXXX")
trap 'rm -rf "$work"' EXIT

plan() { "$DH_MIGRATE" plan "$bundle" --target "$target" --mapping "$mapping" --emit "$work/out"; }

# One untimed run: warms the page cache and yields the plan's summary.
plan >"$work/plan.txt"
rm -rf "$work/out"
refs=$(awk '/^Summary/ { s = 1 } s && $1 == "references" && $2 == "rewritten" { print $3; exit }' "$work/plan.txt")
[[ -n $refs ]] || { log "no 'references rewritten' line in the plan's summary"; exit 1; }

dh_times=() dh_rss=() base_times=() noemit_times=() verify_times=()
for run in $(seq "$BENCH_RUNS"); do
    t0=$(now_ns)
    /usr/bin/time -f %M -o "$work/rss" "$DH_MIGRATE" plan "$bundle" --target "$target" \
        --mapping "$mapping" --emit "$work/out" >/dev/null
    t1=$(now_ns)
    dh_times+=("$(elapsed "$t0" "$t1")")
    dh_rss+=("$(tail -n 1 "$work/rss")")
    rm -rf "$work/out"

    t0=$(now_ns)
    diff -ru "$bundle" "$target" >/dev/null || [[ $? == 1 ]]
    t1=$(now_ns)
    base_times+=("$(elapsed "$t0" "$t1")")

    t0=$(now_ns)
    "$DH_MIGRATE" plan "$bundle" --target "$target" --mapping "$mapping" >/dev/null
    t1=$(now_ns)
    noemit_times+=("$(elapsed "$t0" "$t1")")

    t0=$(now_ns)
    (cd "$bundle" && sha256sum --quiet -c MANIFEST.sha256)
    diff -ru "$bundle" "$target" >/dev/null || [[ $? == 1 ]]
    t1=$(now_ns)
    verify_times+=("$(elapsed "$t0" "$t1")")
    log "run $run: dh-migrate ${dh_times[-1]} s (${dh_rss[-1]} KiB), baseline ${base_times[-1]} s;" \
        "without --emit ${noemit_times[-1]} s, sha256sum+diff ${verify_times[-1]} s"
done

dh=$(median "${dh_times[@]}")
base=$(median "${base_times[@]}")
rss_mib=$(awk -v k="$(median "${dh_rss[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
r=$(ratio "$dh" "$base")
noemit=$(median "${noemit_times[@]}")
verify=$(median "${verify_times[@]}")
per_k=$(awk -v t="$dh" -v n="$refs" 'BEGIN { printf "%.1f", t * 1000 * 1000 / n }')
echo "bundle:                  $bundle ($(find "$bundle" -type f | wc -l) files)"
echo "dh-migrate plan --emit:  $dh s (median of $BENCH_RUNS), peak RSS $rss_mib MiB"
echo "baseline diff -ru:       $base s (median of $BENCH_RUNS)"
echo "ratio:                   $r (target <= 1.5): $(awk -v r="$r" 'BEGIN { print (r <= 1.5) ? "met" : "MISSED" }')"
echo "references rewritten:    $refs"
echo "time per 1,000 refs:     $per_k ms"
echo "for context (medians):"
echo "  plan without --emit:   $noemit s"
echo "  sha256sum -c + diff:   $verify s (ratio plan --emit / this: $(ratio "$dh" "$verify"))"
