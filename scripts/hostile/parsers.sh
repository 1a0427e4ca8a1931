#!/usr/bin/env bash
# Parser probes of issue 10: deep nesting must cost linear memory and time and stop at
# the documented depth limit (16 scope blocks, 32 XML/YAML levels) with a parse error
# (exit 4) naming file:line:col.
#   tailer XML nested 100,000 elements deep (700 KB)
#   20,000 nested property scope blocks (1.2 MB)
# and, as deep as accepted, files with 20,000 entries at the bottom, which
# `inspect` must accept (exit 0) within the same bounds.
# Usage: scripts/hostile/parsers.sh [BINARY]   (default: target/release/dh-migrate)
# Prints one line per probe: name, input size, exit status, peak RSS (MiB), wall time (s),
# and the first line of stderr. Exits non-zero when a probe misses its target (300 MiB,
# 2 s) or ends with another exit status. scripts/bench-hostile.sh calls this.
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/dh-migrate}
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (Debian package: time)" >&2; exit 2; }
MAX_RSS_MIB=300
MAX_SECONDS=2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A directory bundle holding one tailer XML nested DEPTH elements deep.
xml_bundle() {
    local dir=$work/xml-bundle depth=$1
    mkdir -p "$dir/files/etc/sysconfig/illumon.d/resources"
    awk -v n="$depth" 'BEGIN {
        printf "<?xml version=\"1.0\"?>\n";
        for (i = 0; i < n; i++) printf "<a>";
        for (i = 0; i < n; i++) printf "</a>";
        printf "\n" }' >"$dir/files/etc/sysconfig/illumon.d/resources/tailerConfig.xml"
    echo "$dir"
}

# A directory bundle holding one property file with DEPTH nested scope blocks, each
# with a declaration naming a host.
props_bundle() {
    local dir=$work/props-bundle depth=$1
    mkdir -p "$dir/config/props"
    awk -v n="$depth" 'BEGIN {
        for (i = 0; i < n; i++) printf "[host=dh-infra-1|dh-infra-1.old.example.com] {\nk%d=dh-infra-1:%d\n", i, i;
        for (i = 0; i < n; i++) printf "}\n" }' >"$dir/config/props/iris-environment.prop"
    echo "$dir"
}

# The old cluster's node file, so that dh-infra-1 is an old node and every mention of it
# a reference with its full context.
old_nodes() {
    mkdir -p "$1/cluster"
    printf 'DH_NODE_1_NAME="dh-infra-1"\nDH_NODE_1_ROLE_INFRA="true"\n' >"$1/cluster/cluster.cnf"
}

# As deep as accepted: DEPTH nested elements, 20,000 tailer entries at the bottom.
xml_at_limit_bundle() {
    local dir=$work/xml-limit-bundle depth=$1
    mkdir -p "$dir/files/etc/sysconfig/illumon.d/resources"
    awk -v n="$depth" 'BEGIN {
        for (i = 1; i < n; i++) printf "<Process%d name=\"dh-infra-1\">\n", i;
        for (i = 0; i < 20000; i++) printf "<Log host=\"dh-infra-1\" n=\"%d\"/>\n", i;
        for (i = n - 1; i >= 1; i--) printf "</Process%d>\n", i }' \
        >"$dir/files/etc/sysconfig/illumon.d/resources/tailerConfig.xml"
    old_nodes "$dir"
    echo "$dir"
}

# As deep as accepted: DEPTH nested [host=...] blocks, 20,000 declarations in the last.
props_at_limit_bundle() {
    local dir=$work/props-limit-bundle depth=$1
    mkdir -p "$dir/config/props"
    awk -v n="$depth" 'BEGIN {
        for (i = 0; i < n; i++) printf "[host=dh-infra-1|dh-infra-1.old.example.com] {\n";
        for (i = 0; i < 20000; i++) printf "k%d=dh-infra-1:%d\n", i, i;
        for (i = 0; i < n; i++) printf "}\n" }' >"$dir/config/props/iris-environment.prop"
    old_nodes "$dir"
    echo "$dir"
}

# As deep as accepted: DEPTH nested maps, 20,000 entries at the bottom.
yaml_at_limit_bundle() {
    local dir=$work/yaml-limit-bundle depth=$1
    mkdir -p "$dir/config/routing"
    awk -v n="$depth" 'BEGIN {
        for (i = 0; i < n - 1; i++) { for (j = 0; j < i; j++) printf " "; printf "level%d:\n", i }
        for (i = 0; i < 20000; i++) { for (j = 0; j < n - 1; j++) printf " "; printf "host%d: dh-infra-1\n", i } }' \
        >"$dir/config/routing/routing.yaml"
    old_nodes "$dir"
    echo "$dir"
}

fail=0
probe() {
    local name=$1 bundle=$2 expected=$3 size
    size=$(du -sk "$bundle" | cut -f1)
    local status=0
    /usr/bin/time -v -o "$work/time.txt" "$BIN" inspect "$bundle" >"$work/out.txt" 2>"$work/err.txt" || status=$?
    local rss_kib wall
    rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    # m:ss.cc -> seconds
    local secs
    secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    local mib=$((rss_kib / 1024))
    printf '%-28s %5s KiB input  exit %-3s peak RSS %5s MiB  wall %6s s  %s\n' \
        "$name" "$size" "$status" "$mib" "$secs" "$(grep -v '^\s*$' "$work/err.txt" | head -1)"
    if [ "$status" != "$expected" ] || [ "$mib" -ge "$MAX_RSS_MIB" ] ||
        awk -v s="$secs" -v m="$MAX_SECONDS" 'BEGIN { exit !(s >= m) }'; then
        fail=1
    fi
    rm -rf "$bundle"
}

probe "xml-nested-100000" "$(xml_bundle 100000)" 4
probe "props-nested-scopes-20000" "$(props_bundle 20000)" 4
probe "xml-32-deep-20000-entries" "$(xml_at_limit_bundle 32)" 0
probe "props-16-deep-20000-refs" "$(props_at_limit_bundle 16)" 0
probe "yaml-32-deep-20000-entries" "$(yaml_at_limit_bundle 32)" 0
exit $fail
