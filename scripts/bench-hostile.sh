#!/usr/bin/env bash
# Hostile-input benchmark (issue 10): runs every probe of the adversarial pass against the
# release binary, on inputs generated here (nothing large is committed), and prints one line
# per probe: exit status, peak RSS, wall time, PASS/FAIL and the first line of stderr.
# Targets: every probe under 300 MiB peak RSS and under 2 s; each also ends the way the
# README says (the exit code, and for the functional probes what it checks).
#
# Usage: scripts/bench-hostile.sh    (env: DH_MIGRATE, CARGO_TARGET_DIR, PROBE_TIMEOUT,
#                                         PROBE_MAX_VMEM_KIB)
# Needs: /usr/bin/time, zstd, git, awk (Debian: time, zstd, git, mawk).
# The parser probes (deep XML, nested scopes) come from scripts/hostile/parsers.sh when it
# exists (it owns them); otherwise the same two probes run here.
# The rollback probe (a hand-edited run record) needs a live etcd: the integration tests
# cover it; it is not run here.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${DH_MIGRATE:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/dh-migrate}
if [[ ! -x $BIN ]]; then
    echo "building the release binary (cargo build --release)" >&2
    (cd "$REPO_ROOT" && cargo build --release --quiet)
fi
[[ -x $BIN ]] || { echo "no executable at $BIN" >&2; exit 2; }
for tool in /usr/bin/time zstd git awk; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
MAX_RSS_MIB=300
MAX_SECONDS=2
# A probe that misses its target by far is stopped (and fails) rather than left to take
# the machine: killed after PROBE_TIMEOUT seconds, refused memory beyond PROBE_MAX_VMEM_KIB
# of address space (mimalloc reserves more address space than it uses, hence the margin).
PROBE_TIMEOUT=${PROBE_TIMEOUT:-30}
PROBE_MAX_VMEM_KIB=${PROBE_MAX_VMEM_KIB:-$((4 * 1024 * 1024))}

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-hostile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

OLD_CNF='DH_NODE_1_NAME="dh-infra-1.old.example.com"
DH_NODE_1_IP="10.1.2.11"
DH_NODE_1_ROLE_INFRA="true"'
NEW_CNF='DH_NODE_1_NAME="infra-a.new.example.com"
DH_NODE_1_IP="10.20.0.11"
DH_NODE_1_ROLE_INFRA="true"'
MAPPING='version: 1
hosts:
  dh-infra-1.old.example.com: infra-a.new.example.com
  10.1.2.11: 10.20.0.11'

# A directory bundle (and target) of one old (new) infra node: $1 = folder.
small_bundle() {
    mkdir -p "$1/cluster" "$1/config/props"
    printf '%s\n' "$OLD_CNF" >"$1/cluster/cluster.cnf"
}
mkdir -p target/cluster && printf '%s\n' "$NEW_CNF" >target/cluster/cluster.cnf
printf '%s\n' "$MAPPING" >mapping.yaml

fail=0
# measure NAME EXPECTED_EXIT CHECK -- COMMAND...: runs COMMAND, records its peak RSS and
# wall time; CHECK is a shell test run afterwards (out.txt/err.txt hold the output).
measure() {
    local name=$1 expect=$2 check=$3 status=0
    shift 4
    (ulimit -v "$PROBE_MAX_VMEM_KIB" &&
        exec /usr/bin/time -f '%M %e' -o time.txt timeout -k 2 "$PROBE_TIMEOUT" "$@") \
        >out.txt 2>err.txt || status=$?
    local rss_kib secs
    read -r rss_kib secs < <(tail -n 1 time.txt)
    local mib=$((rss_kib / 1024)) verdict=PASS
    if [[ $expect != any && $status != "$expect" ]] || ((mib >= MAX_RSS_MIB)) ||
        awk -v s="$secs" -v m="$MAX_SECONDS" 'BEGIN { exit !(s >= m) }' ||
        ! eval "$check"; then
        verdict=FAIL
        fail=1
    fi
    printf '%-34s exit %-3s (want %-3s) peak RSS %5s MiB  wall %6s s  %s  %s\n' \
        "$name" "$status" "$expect" "$mib" "$secs" "$verdict" \
        "$(grep -v '^\s*$' err.txt | head -n 1 | cut -c1-110 | tr -d '\000-\010\013-\037\177')"
}

echo "dh-migrate: $BIN"
echo "targets: peak RSS < $MAX_RSS_MIB MiB, wall < $MAX_SECONDS s"

# 1. Decompression bomb: 40 x 60 MiB of zeros under config/ in a small .tar.zst.
mkdir -p bomb/config/props
for i in $(seq -w 1 40); do truncate -s 60M "bomb/config/props/bomb-$i.prop"; done
tar -cf - -C bomb config | zstd -q -19 -o bomb.tar.zst
rm -rf bomb
echo "(bomb.tar.zst: $(($(stat -c %s bomb.tar.zst) / 1024)) KiB)"
measure "zstd-bomb-40x60MiB" 3 'grep -q "is 62914560 bytes, over the limit" err.txt' -- "$BIN" inspect bomb.tar.zst

# 2, 3. Parser probes.
parsers=$REPO_ROOT/scripts/hostile/parsers.sh
if [[ -x $parsers ]]; then
    "$parsers" "$BIN" || fail=1
else
    small_bundle deep-xml
    mkdir -p deep-xml/files/etc/sysconfig/illumon.d/resources
    awk 'BEGIN { printf "<?xml version=\"1.0\"?>\n"; for (i = 0; i < 100000; i++) printf "<a>";
        for (i = 0; i < 100000; i++) printf "</a>"; printf "\n" }' \
        >deep-xml/files/etc/sysconfig/illumon.d/resources/tailerConfig.xml
    measure "xml-nested-100000" 4 true -- "$BIN" inspect deep-xml
    small_bundle scopes
    awk 'BEGIN { for (i = 0; i < 20000; i++)
            printf "[host=dh-infra-1|dh-infra-1.old.example.com] {\nk%d=dh-infra-1:%d\n", i, i;
        for (i = 0; i < 20000; i++) printf "}\n" }' >scopes/config/props/iris-environment.prop
    measure "props-nested-scopes-20000" 4 true -- "$BIN" inspect scopes
fi

# 4. 40,000 host references on one line: inspect, then a plan that rewrites them all.
small_bundle long-line
awk 'BEGIN { printf "hosts="; for (i = 0; i < 40000; i++) printf "dh-infra-1.old.example.com,";
    printf "\n" }' >long-line/config/props/iris-environment.prop
measure "one-line-40000-refs-inspect" 0 true -- "$BIN" inspect long-line
measure "one-line-40000-refs-plan" 0 '[[ $(grep -o "infra-a.new.example.com," emitted/config/props/iris-environment.prop | wc -l) == 40000 ]]' \
    -- "$BIN" plan long-line --target target --mapping mapping.yaml --diff none --emit emitted

# 5. A mapping with 100,000 hosts the bundle does not know (4.9 MB).
{
    printf '%s\n' "$MAPPING"
    awk 'BEGIN { for (i = 0; i < 100000; i++) printf "  u%06d.unknown-cluster.example.com: infra-a.new.example.com\n", i }'
} >big-mapping.yaml
small_bundle unknown
echo "x=dh-infra-1.old.example.com" >unknown/config/props/iris-environment.prop
measure "mapping-100000-unknown-hosts" 6 true -- "$BIN" plan unknown --target target --mapping big-mapping.yaml --diff none

# 6. A file name with ESC/BEL bytes, listed in the manifest: nothing raw on the terminal.
small_bundle escape
echo "x=dh-infra-1.old.example.com" >escape/config/props/iris-environment.prop
esc_name=$'files/etc/sysconfig/illumon.d/resources/x\e]0;pwned\a.xml'
mkdir -p "escape/$(dirname "$esc_name")"
echo "<a h=\"dh-infra-1.old.example.com\"/>" >"escape/$esc_name"
(cd escape && find . -type f ! -name MANIFEST.sha256 -printf '%P\0' | xargs -0 sha256sum >MANIFEST.sha256)
measure "escape-bytes-in-a-file-name" 0 '! grep -q $'"'"'[\x07\x1b]'"'"' out.txt err.txt' \
    -- "$BIN" plan escape --target target --mapping mapping.yaml --diff none

# 7. Key file modes: a directory bundle's auth/priv-*.base64.txt at 0644 is emitted 0600.
cp -r "$REPO_ROOT/fixtures/old-cluster" modes
chmod 0644 modes/files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt
measure "key-file-mode-from-a-directory" 0 '[[ $(stat -c %a modes-out/files/etc/sysconfig/deephaven/auth/priv-iris.base64.txt) == 600 && $(stat -c %a modes-out/files/etc/sysconfig/deephaven/auth) == 700 ]]' \
    -- "$BIN" plan modes --target "$REPO_ROOT/fixtures/new-cluster" --mapping "$REPO_ROOT/fixtures/mapping.yaml" --diff none --emit modes-out

# 8. A pax global header, as git archive writes it: accepted.
mkdir -p gitrepo/config/props && echo "x=1" >gitrepo/config/props/iris-environment.prop
git -C gitrepo init -q && git -C gitrepo add . &&
    git -C gitrepo -c user.name=b -c user.email=b@example.com commit -qm x &&
    git -C gitrepo archive --format=tar --prefix=backup/ HEAD >git.tar
measure "pax-global-header-git-archive" 0 true -- "$BIN" inspect git.tar

# 9. MANIFEST.sha256 that is a folder; two top-level folders: invalid (3), not "no manifest".
small_bundle manifest-dir && mkdir manifest-dir/MANIFEST.sha256
measure "manifest-is-a-folder" 3 'grep -q "MANIFEST.sha256 is a folder" err.txt' -- "$BIN" inspect manifest-dir
mkdir -p two/a two/b && small_bundle two/a/x && small_bundle two/b/x
measure "two-top-level-folders" 3 'grep -q "top-level folder" err.txt' -- "$BIN" inspect two

# 10. Invalid UTF-8 in a configuration file: the error gives line:col, not a byte offset.
# (YAML must be UTF-8; property files are ISO-8859-1 as Java reads them, so any byte is text.)
small_bundle bad-utf8
mkdir -p bad-utf8/config/routing
printf 'a: 1\nb: 2\nc: \xff\n' >bad-utf8/config/routing/routing.yaml
measure "invalid-utf8-config" 4 'grep -q "routing.yaml:3:4" err.txt' -- "$BIN" inspect bad-utf8

exit $fail
