#!/usr/bin/env bash
# The main job on the shipped fixtures: a real migration of fixtures/old-cluster.tar.gz
# into a throwaway local etcd that holds the fixture new cluster's configuration.
# Starts etcd itself, runs inspect, mapping suggest, plan, report, apply, report again (only
# the new PQs left, for the vendor's import) and apply again, and stops etcd. Prints the old nodes with their roles and reference counts,
# the suggested mapping, the plan summary with the files each new node receives, and the
# full restart step (under 120 lines in all). Nothing outside a temp dir is written.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/ensure-deps.sh
cargo build --quiet
dhm="${CARGO_TARGET_DIR:-$repo/target}/debug/dh-migrate"
# Keep the caller's etcd/etcdctl settings out of the way (etcd reads ETCD_* as flags).
for v in $(env | grep -oE '^(ETCD|ETCDCTL)_[A-Z_]+' || true); do unset "$v"; done

work="$(mktemp -d)"
etcd_pid=""
cleanup() {
  if [[ -n "$etcd_pid" ]]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Headings in bold only on a terminal (and never with NO_COLOR): a log file gets plain text.
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
else
  step() { printf '\n==> %s\n' "$*" >&2; }
fi

read -r client_port peer_port < <(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
url="http://127.0.0.1:${client_port}"
peer="http://127.0.0.1:${peer_port}"

step "starting a throwaway etcd at $url (data in $work)"
etcd --name demo --data-dir "$work/etcd" \
  --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
  --initial-cluster "demo=$peer" --heartbeat-interval=10 --election-timeout=100 \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 200); do
  kill -0 "$etcd_pid" 2>/dev/null || { cat "$work/etcd.log" >&2; exit 1; }
  etcdctl --endpoints="$url" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done

step "loading the new cluster's configuration as installed (fixtures/new-cluster) into etcd"
python3 scripts/load-tree-into-etcd.py "$url" fixtures/new-cluster templates/etcd-layout-v2.yaml >/dev/null

bundle=fixtures/old-cluster.tar.gz
step "1/7 inspect: verify the backup bundle; the old nodes with their roles and reference counts"
# The manifest line, then each old node's own line (its evidence and references are in the
# full output).
"$dhm" inspect "$bundle" | awk '/^Manifest/ { print } /^Old nodes/ { p = 1; print; next } p && /^  [^ ]/ { print }'

step "2/7 mapping suggest: old -> new hosts inferred from the bundle and the new cluster"
# The whole suggested mapping, without its evidence comments.
"$dhm" mapping suggest "$bundle" --target fixtures/new-cluster | grep -v '^ *#'

step "3/7 plan against the live etcd (saved to plan.json): scripts to review, summary, node files"
"$dhm" plan "$bundle" --endpoints "$url" --mapping fixtures/mapping.yaml --out "$work/plan.json" --diff none \
  | sed -n '/^\(In a script\|Summary\)/,/^Restart step/{/^Restart step/!p}'

step "4/7 report before applying (exit 1: differences)"
set +e; "$dhm" report "$bundle" --endpoints "$url" --mapping fixtures/mapping.yaml | sed -n '1,3p'; rc=${PIPESTATUS[0]}; set -e
echo "report exit status: $rc" >&2
[[ $rc -eq 1 ]] || { echo "expected differences before applying" >&2; exit 1; }

step "5/7 apply the saved plan (compare-and-swap, run record), node files written per node: copy step, restart step"
# The files apply does not write ("not written: ...") are listed by the plan in step 3.
"$dhm" apply --plan "$work/plan.json" --endpoints "$url" \
  --yes --diff none --files-out "$work/node-files" --run-record "$work/run.json" 2>"$work/apply.err" \
  | sed -n '/^Copy step/,/^etcd snapshot:/{/^etcd snapshot:/!p}'
grep -v '^not written: ' "$work/apply.err" >&2 || true

step "6/7 report after applying (exit 1: only the 3 new PQs differ, left to the vendor's import)"
# With the default layout (v2) apply does not create new persistent queries (Deephaven
# assigns their serials): they stay until `controller_tool --import -x FILE` brings them in.
set +e; out=$("$dhm" report "$bundle" --endpoints "$url" --mapping fixtures/mapping.yaml); rc=$?; set -e
printf '%s\n' "$out" | grep '^Result: '
# (The report does not yet know which items apply leaves to the vendor: it says "apply adds it".)
printf '%s\n' "$out" | grep '^== .*\[only in the bundle' || true
echo "report exit status: $rc" >&2
left=$(printf '%s\n' "$out" | grep '^== .*\[only in the bundle' | cut -d' ' -f2 | tr '\n' ' ')
[[ $rc -eq 1 && "$left" == "config/pq/MarketDashboard.xml config/pq/NightlyMerge.xml config/pq/VendorRefresh.xml " ]] \
  || { echo "expected only the 3 new PQs left after applying, got: $left" >&2; exit 1; }

step "7/7 apply again: nothing to do"
"$dhm" apply "$bundle" --mapping fixtures/mapping.yaml --endpoints "$url" --yes --diff none 2>&1 >/dev/null \
  | grep -v '^not written: '

step "done: the migration is in etcd; stopping the throwaway etcd"
