#!/usr/bin/env bash
# Benchmark: `dh-migrate plan bundle --target target --mapping mapping.yaml --emit DIR`
# against the baseline `diff -ru bundle target`, in the same run, on the large synthetic
# data set generated with --full-target (scripts/gen-synthetic.py): the target holds every
# migrated item of the bundle under the same paths, with new host names and a few hundred
# deliberate differences, so diff opens and compares every file present on both sides.
#
# Each of BENCH_RUNS runs (default 3) times, one after the other:
#   diff -ru bundle target                       the baseline (target: plan --emit <= 1.5x)
#   plan --emit DIR                              the measured command (with its peak RSS)
#   plan (no --emit)                             the same without writing the migrated tree
#   plan --emit DIR on the small-snapshot copy   the same text, a snapshot of the items only
#   plan (no --emit) on that copy
#   diff -ru on that copy                        (diff never reads the snapshot: one side)
# and prints the medians, the ratio plan --emit / diff, the references rewritten (from the
# plan's summary) and the time per 1,000 references rewritten.
#
# What each command reads and writes is in docs/benchmarks.md. Every plan's stdout (the
# rendered plan) goes to /dev/null; each --emit run writes into an empty TMP directory that
# is removed before the next command.
#
# Usage: scripts/bench-plan.sh    (env: BENCH_DATA, BENCH_RUNS, DH_MIGRATE, BENCH_GEN_ARGS)
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

[[ -x /usr/bin/time ]] || { log "needs /usr/bin/time for the peak RSS (Debian: apt-get install time)"; exit 2; }
ensure_binary
ensure_data
ensure_small_data
mapping=$BENCH_DATA/mapping.yaml

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-plan.XXXXXX")
trap 'rm -rf "$work"' EXIT

# plan DATA_DIR [--emit]: one plan of DATA_DIR's bundle against its target.
plan() {
    local data=$1
    shift
    "$DH_MIGRATE" plan "$data/bundle" --target "$data/target" --mapping "$data/mapping.yaml" "$@"
}

# diff exits 1 when the trees differ (they do, on purpose): only 2 or more is an error.
tree_diff() { diff -ru "$1/bundle" "$1/target" >/dev/null || [[ $? == 1 ]]; }

# Seconds taken by the command given as arguments (its stdout discarded).
timed() {
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    elapsed "$t0" "$t1"
}

# One untimed pass: warms the page cache and yields the plan's summary.
plan "$BENCH_DATA" >"$work/plan.txt"
plan "$SMALL_DATA" >"$work/plan-small.txt"
tree_diff "$BENCH_DATA"
refs=$(awk '/^Summary/ { s = 1 } s && $1 == "references" && $2 == "rewritten" { print $3; exit }' "$work/plan.txt")
[[ -n $refs ]] || { log "no 'references rewritten' line in the plan's summary"; exit 1; }
# The two data sets differ only in the snapshot: their plans must be the same text, but
# for the paths in the heading.
sed "s|$SMALL_DATA/|$BENCH_DATA/|g" "$work/plan-small.txt" | cmp -s "$work/plan.txt" - ||
    log "note: the plans of $BENCH_DATA and $SMALL_DATA differ (data sets out of step?)"

dh=() dh_rss=() base=() noemit=() small=() small_noemit=() small_base=()
for run in $(seq "$BENCH_RUNS"); do
    base+=("$(timed tree_diff "$BENCH_DATA")")

    t0=$(now_ns)
    /usr/bin/time -f %M -o "$work/rss" "$DH_MIGRATE" plan "$BENCH_DATA/bundle" \
        --target "$BENCH_DATA/target" --mapping "$mapping" --emit "$work/out" >/dev/null
    t1=$(now_ns)
    dh+=("$(elapsed "$t0" "$t1")")
    dh_rss+=("$(tail -n 1 "$work/rss")")
    rm -rf "$work/out"

    noemit+=("$(timed plan "$BENCH_DATA")")
    small+=("$(timed plan "$SMALL_DATA" --emit "$work/out")")
    rm -rf "$work/out"
    small_noemit+=("$(timed plan "$SMALL_DATA")")
    small_base+=("$(timed tree_diff "$SMALL_DATA")")
    log "run $run: diff -ru ${base[-1]} s, plan --emit ${dh[-1]} s (${dh_rss[-1]} KiB)," \
        "plan ${noemit[-1]} s; small snapshot: plan --emit ${small[-1]} s, plan" \
        "${small_noemit[-1]} s, diff -ru ${small_base[-1]} s"
done

m_dh=$(median "${dh[@]}")
m_base=$(median "${base[@]}")
m_noemit=$(median "${noemit[@]}")
m_small=$(median "${small[@]}")
m_small_noemit=$(median "${small_noemit[@]}")
m_small_base=$(median "${small_base[@]}")
rss_mib=$(awk -v k="$(median "${dh_rss[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
r=$(ratio "$m_dh" "$m_base")
per_k=$(awk -v t="$m_dh" -v n="$refs" 'BEGIN { printf "%.1f", t * 1000 * 1000 / n }')
verdict() { awk -v r="$1" 'BEGIN { print (r <= 1.5) ? "met" : "MISSED" }'; }
(cd "$BENCH_DATA/bundle" && find . -type f | sort) >"$work/b.lst"
(cd "$BENCH_DATA/target" && find . -type f | sort) >"$work/t.lst"
echo "bundle: $BENCH_DATA/bundle ($(wc -l <"$work/b.lst") files); target: $(wc -l <"$work/t.lst") files;" \
    "on both sides (what diff compares): $(comm -12 "$work/b.lst" "$work/t.lst" | wc -l) files"
echo "medians of $BENCH_RUNS runs:"
echo "  diff -ru bundle target:          $m_base s"
echo "  dh-migrate plan --emit:          $m_dh s, peak RSS $rss_mib MiB"
echo "  ratio plan --emit / diff:        $r (target <= 1.5): $(verdict "$r")"
echo "  dh-migrate plan (no --emit):     $m_noemit s (ratio $(ratio "$m_noemit" "$m_base"))"
echo "  with the small snapshot (items only, $(du -m "$SMALL_DATA/bundle/etcd/snapshot.db" | cut -f1) MiB):"
echo "    diff -ru bundle target:        $m_small_base s"
echo "    dh-migrate plan --emit:        $m_small s (ratio $(ratio "$m_small" "$m_small_base"))"
echo "    dh-migrate plan (no --emit):   $m_small_noemit s (ratio $(ratio "$m_small_noemit" "$m_small_base"))"
echo "references rewritten:              $refs"
echo "plan --emit per 1,000 references:  $per_k ms"
