#!/usr/bin/env bash
# Rebuild a bundle's etcd/snapshot.db from the bundle's own config files.
#
# Starts a throwaway single-member etcd (Debian etcd 3.4: /usr/bin/etcd, /usr/bin/etcdctl)
# on free 127.0.0.1 ports with a temporary data dir, stores every config item of the
# bundle where the etcd layout file puts it (scripts/load-tree-into-etcd.py: with the
# default layout v2, each item is a Deephaven atomic directory with its `file` part = the
# file's bytes unchanged, its `name` part and a meta subtree `created`/`updated`/`guard`;
# PQs under the scan directory with invented deterministic serials), adds a few runtime
# keys and etcd users the way a live cluster has them, saves a v3 snapshot with
# `etcdctl snapshot save`, and stops etcd again.
#
# Usage: scripts/make-fixture-snapshot.sh [BUNDLE_DIR [LAYOUT_FILE]]
#   BUNDLE_DIR   default: fixtures/old-cluster
#   LAYOUT_FILE  default: templates/etcd-layout-v2.yaml (the default layout)
#
# Afterwards run scripts/pack-fixture.sh to refresh MANIFEST.sha256 and the tarball.
# Note: never name shell variables ETCD_*: etcd reads such environment variables as flags.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$(cd "${1:-$repo/fixtures/old-cluster}" && pwd)"
layout="${2:-$repo/templates/etcd-layout-v2.yaml}"
etcd_bin="${FIXTURE_ETCD_BIN:-/usr/bin/etcd}"
etcdctl_bin="${FIXTURE_ETCDCTL_BIN:-/usr/bin/etcdctl}"

work="$(mktemp -d)"
etcd_pid=""
cleanup() {
    if [[ -n "$etcd_pid" ]]; then
        kill "$etcd_pid" 2>/dev/null || true
        wait "$etcd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Two free loopback ports, picked by the kernel.
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
client_url="http://127.0.0.1:${client_port}"
peer_url="http://127.0.0.1:${peer_port}"

"$etcd_bin" \
    --name fixture \
    --data-dir "$work/data" \
    --listen-client-urls "$client_url" \
    --advertise-client-urls "$client_url" \
    --listen-peer-urls "$peer_url" \
    --initial-advertise-peer-urls "$peer_url" \
    --initial-cluster "fixture=$peer_url" \
    --initial-cluster-token dh-migrate-fixture \
    --heartbeat-interval=10 \
    --election-timeout=100 \
    >"$work/etcd.log" 2>&1 &
etcd_pid=$!

ctl() { "$etcdctl_bin" --endpoints="$client_url" --dial-timeout=2s "$@"; }

# Poll until the member answers (a readiness check, not a timing assumption).
healthy=""
for _ in $(seq 1 200); do
    if ! kill -0 "$etcd_pid" 2>/dev/null; then
        echo "etcd exited early; log follows:" >&2
        cat "$work/etcd.log" >&2
        exit 1
    fi
    if ctl endpoint health >/dev/null 2>&1; then
        healthy=yes
        break
    fi
    sleep 0.1
done
if [[ -z "$healthy" ]]; then
    echo "etcd did not become healthy; log follows:" >&2
    cat "$work/etcd.log" >&2
    exit 1
fi

# Load the config items through the v3 JSON gateway so that values are the files' exact
# bytes (CRLF, trailing newlines and all), then read every key back and compare.
python3 "$repo/scripts/load-tree-into-etcd.py" "$client_url" "$bundle" "$layout"

# Runtime keys a live cluster carries besides configuration (presence, leader election).
# They name old hosts on purpose: a migration must not carry them over.
ctl put /deephaven/runtime/presence/dh-query-1.old.example.com '{"host":"dh-query-1.old.example.com","ip":"10.1.2.21","services":["db_query_server","db_dis"],"since":"2024-05-02T06:00:12Z"}' >/dev/null
ctl put /deephaven/runtime/presence/dh-infra-1.old.example.com '{"host":"dh-infra-1.old.example.com","ip":"10.1.2.11","services":["configuration_server","authentication_server","iris_controller"],"since":"2024-05-02T05:59:40Z"}' >/dev/null
ctl put /deephaven/runtime/leader/iris_controller 'dh-infra-1.old.example.com:20126' >/dev/null

# etcd's own users and roles travel inside a snapshot too (auth stays disabled here).
ctl user add root:fake-etcd-root-password-Old2023 >/dev/null
ctl role add deephaven-config >/dev/null
ctl role grant-permission deephaven-config --prefix=true readwrite /main/ >/dev/null
ctl user add iris-config:fake-iris-config-password >/dev/null
ctl user grant-role iris-config deephaven-config >/dev/null

mkdir -p "$bundle/etcd"
if ! ctl snapshot save "$work/snapshot.db" >"$work/save.log" 2>&1; then
    cat "$work/save.log" >&2
    exit 1
fi
"$etcdctl_bin" snapshot status "$work/snapshot.db" --write-out=table
mv "$work/snapshot.db" "$bundle/etcd/snapshot.db"
chmod 0644 "$bundle/etcd/snapshot.db"
echo "wrote $bundle/etcd/snapshot.db"
