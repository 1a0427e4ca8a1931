# Shared helpers for scripts/bench-inspect.sh and scripts/bench-plan.sh (sourced, not run).
#
# Owns: where the benchmark data lives, generating it when it is missing or was made with
# other options, building the release binary, and the timing helpers (wall time in
# seconds, median of runs, ratios).
# Why a shared file: both benchmarks must measure the same data set with the same clock.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DATA=${BENCH_DATA:-$REPO_ROOT/bench-data}
BENCH_RUNS=${BENCH_RUNS:-3}
CARGO_RELEASE_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/dh-migrate
DH_MIGRATE=${DH_MIGRATE:-$CARGO_RELEASE_BIN}
# Extra options for gen-synthetic.py, e.g. BENCH_GEN_ARGS="--dis 50 --schemas 500" for a
# quick case. Only used when the data set is generated: --snapshot-mib is checked against
# the data set's generated.json, other options are not (use another BENCH_DATA, or delete
# $BENCH_DATA/generated.json, after changing them).
BENCH_GEN_ARGS=${BENCH_GEN_ARGS:-}

log() { printf '%s\n' "$*" >&2; }

# Builds the release binary (in CARGO_TARGET_DIR when set) unless DH_MIGRATE names another.
ensure_binary() {
    if [[ $DH_MIGRATE == "$CARGO_RELEASE_BIN" ]]; then
        log "building the release binary (cargo build --release)"
        (cd "$REPO_ROOT" && cargo build --release --quiet)
    fi
    [[ -x $DH_MIGRATE ]] || { log "no executable at $DH_MIGRATE"; exit 2; }
}

# True when $1 holds a complete data set (the generator writes generated.json last) made
# with --full-target and a real snapshot of $2 MiB, and, when $3 is "tarball", with
# bundle.tar.gz; with $4, also made with the same seed and counts as the data set in $4.
data_ok() {
    python3 - "$1" "$2" "$3" "${4:-}" <<'EOF'
import json, os, sys
root, mib, tarball, ref = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "tarball", sys.argv[4]
def params(d):
    with open(os.path.join(d, "generated.json")) as f:
        return json.load(f)
try:
    p = params(root)
    r = params(ref) if ref else p
except (OSError, ValueError):
    sys.exit(1)
same = all(p.get(k) == r.get(k) for k in ("seed", "nodes", "dis", "schemas", "prop_lines"))
# A data set from before real snapshots (a random filler as etcd/snapshot.db, which the
# snapshot reader refuses) records no snapshot_items: it is made again.
ok = (same and p.get("full_target") is True and p.get("snapshot_mib") == mib
      and (mib == 0 or "snapshot_items" in p)
      and (p.get("tarball") is True or not tarball))
sys.exit(0 if ok else 1)
EOF
}

# The snapshot size BENCH_GEN_ARGS asks for (the generator's default otherwise).
wanted_snapshot_mib() {
    # shellcheck disable=SC2086 # BENCH_GEN_ARGS is a list of options on purpose
    python3 - $BENCH_GEN_ARGS <<'EOF'
import argparse, sys
p = argparse.ArgumentParser()
p.add_argument("--snapshot-mib", type=int, default=1024)
print(p.parse_known_args(sys.argv[1:])[0].snapshot_mib)
EOF
}

# Generates the data set in $BENCH_DATA (bundle/, bundle.tar.gz, the full target/,
# mapping.yaml, generated.json) unless a complete one made with --full-target is there.
# The generator packs the tarball itself. A data set from before --full-target (11-file
# target) is replaced; bench-data/apply/ (scripts/bench-apply.sh) is never touched.
ensure_data() {
    if ! data_ok "$BENCH_DATA" "$(wanted_snapshot_mib)" tarball; then
        log "generating the synthetic data set (--full-target) in $BENCH_DATA (about 2 min)"
        # shellcheck disable=SC2086 # BENCH_GEN_ARGS is a list of options on purpose
        python3 "$REPO_ROOT/scripts/gen-synthetic.py" "$BENCH_DATA" --full-target --force $BENCH_GEN_ARGS
    fi
}

# The same data set with the smallest snapshot (--snapshot-mib 1: the configuration items
# alone, no filler keys; its size is what the items need, about 10 MiB by default), in
# $SMALL_DATA (no tarball). Its configuration text and target are byte-for-byte those of
# $BENCH_DATA: the generator draws the snapshot after all text, and the target's
# differences from a generator of their own. Both snapshots are real etcd snapshots of the
# same items (scripts/gen-synthetic.py), so plans read from files and snapshot agree.
SMALL_DATA=$BENCH_DATA/small-snapshot
ensure_small_data() {
    if ! data_ok "$SMALL_DATA" 1 no-tarball "$BENCH_DATA"; then
        log "generating the small-snapshot variant in $SMALL_DATA (about 1 min)"
        # shellcheck disable=SC2086 # BENCH_GEN_ARGS is a list of options on purpose
        python3 "$REPO_ROOT/scripts/gen-synthetic.py" "$SMALL_DATA" --full-target --force \
            --no-tarball $BENCH_GEN_ARGS --snapshot-mib 1
    fi
}

# Reads a file once so that the first timed run does not pay for the disk.
warm() { cat "$@" >/dev/null; }

now_ns() { date +%s%N; }

# Seconds (3 decimals) between two now_ns readings.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# a / b with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
