# Shared helpers for scripts/bench-inspect.sh and scripts/bench-plan.sh (sourced, not run).
#
# Owns: where the benchmark data lives, generating it when it is missing, building the
# release binary, and the timing helpers (wall time in seconds, peak RSS, median of runs).
# Why a shared file: both benchmarks must measure the same data set with the same clock.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DATA=${BENCH_DATA:-$REPO_ROOT/bench-data}
BENCH_RUNS=${BENCH_RUNS:-3}
DH_MIGRATE=${DH_MIGRATE:-$REPO_ROOT/target/release/dh-migrate}
# Extra options for gen-synthetic.py, e.g. BENCH_GEN_ARGS="--dis 50 --schemas 500" for a
# quick case. Only used when the data set is generated (missing).
BENCH_GEN_ARGS=${BENCH_GEN_ARGS:-}

log() { printf '%s\n' "$*" >&2; }

# Builds the release binary unless DH_MIGRATE points at an existing one.
ensure_binary() {
    if [[ $DH_MIGRATE == "$REPO_ROOT/target/release/dh-migrate" ]]; then
        log "building the release binary (cargo build --release)"
        (cd "$REPO_ROOT" && cargo build --release --quiet)
    fi
    [[ -x $DH_MIGRATE ]] || { log "no executable at $DH_MIGRATE"; exit 2; }
}

# The generator writes a mapping with two `<<` keys (`<<: *dis-base` and
# `<<: *default-dis-ports`) for every third dataImportServers entry of routing.yaml. The
# YAML model rejects duplicate keys, so inspect and plan stop with exit 4 on that file.
# Until the generator writes `<<: [*dis-base, *default-dis-ports]` itself, rewrite those
# entries to that (equivalent) form here and fix the routing.yaml line of MANIFEST.sha256.
# A no-op once the generator is fixed.
fix_duplicate_merge_keys() {
    python3 - "$BENCH_DATA/bundle" "$BENCH_DATA/target" <<'EOF'
import hashlib, os, re, sys
pat = re.compile(r"^(\s+)<<: \*dis-base\n(\1host: [^\n]*\n)\1<<: \*default-dis-ports\n", re.M)
for root in sys.argv[1:]:
    path = os.path.join(root, "config/routing/routing.yaml")
    if not os.path.exists(path):
        continue
    with open(path, newline="") as f:
        text = f.read()
    fixed, n = pat.subn(r"\1<<: [*dis-base, *default-dis-ports]\n\2", text)
    if n == 0:
        continue
    with open(path, "w", newline="") as f:
        f.write(fixed)
    manifest = os.path.join(root, "MANIFEST.sha256")
    if os.path.exists(manifest):
        digest = hashlib.sha256(fixed.encode()).hexdigest()
        suffix = "  config/routing/routing.yaml"
        with open(manifest) as f:
            lines = [digest + suffix if l.endswith(suffix) else l for l in f.read().splitlines()]
        with open(manifest, "w") as f:
            f.write("\n".join(lines) + "\n")
    print(f"bench: {path}: merged {n} duplicate '<<' keys into one list", file=sys.stderr)
EOF
}

# Generates bench-data/ when any part is missing, and (re)packs bundle.tar.gz whenever the
# bundle's manifest is newer than it, with the generator's own tar settings (top-level
# folder synthetic-backup/, fixed order, owner and mtime, gzip -1).
ensure_data() {
    if [[ ! -f $BENCH_DATA/bundle/MANIFEST.sha256 || ! -d $BENCH_DATA/target ||
        ! -f $BENCH_DATA/mapping.yaml ]]; then
        log "generating the synthetic data set in $BENCH_DATA (about 1 min)"
        # shellcheck disable=SC2086 # BENCH_GEN_ARGS is a list of options on purpose
        python3 "$REPO_ROOT/scripts/gen-synthetic.py" "$BENCH_DATA" --no-tarball --force $BENCH_GEN_ARGS
    fi
    fix_duplicate_merge_keys
    local tarball=$BENCH_DATA/bundle.tar.gz
    if [[ ! -f $tarball || $BENCH_DATA/bundle/MANIFEST.sha256 -nt $tarball ]]; then
        log "packing $tarball"
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 \
            --transform=s,^bundle,synthetic-backup, -C "$BENCH_DATA" -cf - bundle |
            gzip -1 -n >"$tarball.tmp"
        mv "$tarball.tmp" "$tarball"
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
