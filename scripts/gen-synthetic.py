#!/usr/bin/env python3
"""Generate a large synthetic Deephaven migration case for benchmarks and scale tests.

Writes, under OUT_DIR:

  bundle/          an old-cluster backup bundle with the layout of fixtures/old-cluster
                   (cluster.cnf, property files with scope blocks and host references,
                   routing.yaml naming every DIS, DIS configs, schemas, PQs, ACLs, tailer
                   XMLs, etcd client files, a real etcd v3 snapshot etcd/snapshot.db
                   holding every configuration item at its default-layout key plus
                   filler keys outside that prefix up to --snapshot-mib, MANIFEST.sha256)
  bundle.tar.gz    the same tree under one top-level folder (gzip -1, for speed)
  target/          the new cluster's export (config/, files/, cluster/) with new hosts:
                   installer-owned files and 5 DIS configs only; with --full-target, also
                   every migrated item of the bundle (same paths, nodes/<old fqdn>/ too)
                   with new host names, as after a partial manual migration, plus a few
                   hundred deliberate differences (values changed, keys added, files
                   missing; see TargetEdits)
  mapping.yaml     old -> new for every node and IP; a few nodes split by role
  generated.json   the options and file counts, written last (a complete data set)

Everything is derived from --seed, so two runs with the same arguments write the same
files, and the bundle does not depend on --full-target (the target's copies replay the
bundle's random draws from a forked generator; the differences draw from their own). The
one exception is etcd/snapshot.db (and so its MANIFEST.sha256 line): it holds the same
keys, values and revisions on every run, but its bytes may differ, because a real etcd
writes it (see TreeWriter.write_etcd_snapshot). --snapshot-mib 0 writes no snapshot.
Only the Python standard library is used, and /usr/bin/etcd and /usr/bin/etcdctl (Debian
etcd-server, etcd-client) for the snapshot.

Example (bench-data/ at the repo root is git-ignored; never commit generated data):

  python3 scripts/gen-synthetic.py bench-data
  python3 scripts/gen-synthetic.py bench-data --nodes 10 --dis 20 --schemas 100 \\
      --prop-lines 2000 --snapshot-mib 8
  python3 scripts/gen-synthetic.py bench-data --full-target    # for scripts/bench-plan.sh
"""

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

OLD_DOMAIN = "old.example.com"
NEW_DOMAIN = "new.example.com"
KEEP_HOSTS = ["ldap.corp.example.com", "smtp.corp.example.com", "feeds.vendor.example.net"]
TOP_FOLDER = "synthetic-backup"
FIXED_MTIME = 1700000000
CHUNK = 1 << 20
# Written last into OUT_DIR: the options and counts of a complete data set.
PARAMS_FILE = "generated.json"

NAMESPACE_BASES = [
    "Market", "Orders", "Vendor", "Risk", "Pnl", "Refdata", "Compliance", "Fx", "Rates",
    "Credit", "Options", "Futures", "Crypto", "Surveillance", "Treasury",
]
TABLE_BASES = [
    "Trades", "Quotes", "Fills", "Orders", "Positions", "Prices", "Events", "Snapshots",
    "Book", "Greeks", "Marks", "Limits", "Alerts", "Curves", "Ticks", "Bars",
]
COLUMN_TYPES = ["double", "int", "long", "String", "DateTime", "boolean", "short", "char"]
TOPICS = [
    "dashboards", "alerts", "exports", "replay", "risk", "pnl", "ingest", "merge",
    "snapshots", "audit", "reports", "notebooks", "kafka", "jdbc", "python", "groovy",
]
KEY_PREFIXES = [
    "RemoteQueryDispatcher", "PersistentQueryController", "DataImportServer",
    "TableDataCacheProxy", "LocalTableDataServer", "LogAggregatorService", "Webapi.server",
    "WorkspaceData", "BinaryStoreWriterV2", "Comm", "SchemaConfig", "iris.web",
]


# --------------------------------------------------------------------------------------
# Cluster model
# --------------------------------------------------------------------------------------


class Node:
    def __init__(self, index, short, ip, roles):
        self.index = index  # 1-based position in cluster.cnf
        self.short = short
        self.ip = ip
        self.roles = roles  # list of role names, installer order
        self.new_short = None
        self.new_ip = None
        # For a node whose dis role moves to a dedicated ingest node.
        self.split_short = None
        self.split_ip = None

    @property
    def fqdn(self):
        return f"{self.short}.{OLD_DOMAIN}"

    @property
    def new_fqdn(self):
        return f"{self.new_short}.{NEW_DOMAIN}"

    @property
    def split_fqdn(self):
        return f"{self.split_short}.{NEW_DOMAIN}" if self.split_short else None

    def dis_fqdn_new(self):
        return self.split_fqdn or self.new_fqdn


class NewView:
    """A node as the new cluster names it in one role context: `short`, `fqdn` and `ip`
    give the new names, the split-off ingest node's for role "dis". Text generators take
    either a Node (old names) or a NewView (new names), so that one code path writes a file
    for the bundle and, with the same random draws, its migrated counterpart for a full
    target."""

    def __init__(self, node, role=None):
        self.node = node
        self.dis = role == "dis" and node.split_short is not None

    @property
    def short(self):
        return self.node.split_short if self.dis else self.node.new_short

    @property
    def fqdn(self):
        return self.node.split_fqdn if self.dis else self.node.new_fqdn

    @property
    def ip(self):
        return self.node.split_ip if self.dis else self.node.new_ip


def fork(rng):
    """An independent copy of `rng` in its current state: the target's copy of a file
    replays the bundle's random draws without moving the bundle's generator."""
    copy = random.Random()
    copy.setstate(rng.getstate())
    return copy


def ip_for(base, first_subnet, i):
    """i-th address (0-based) under `base` (two octets), from .11 upward in each /24 starting
    at `first_subnet`, so that 10.1.2.11, 10.1.2.110, 10.1.2.111 ... coexist (prefix traps
    for IP matching)."""
    return f"{base}.{first_subnet + i // 240}.{11 + i % 240}"


def build_cluster(n_nodes, rng):
    n_infra = max(1, min(3, n_nodes // 20 + 1))
    nodes = []
    q = 0
    for i in range(n_nodes):
        if i < n_infra:
            short = f"dh-infra-{i + 1}"
            roles = ["infra", "etcd"] if i == 0 or n_infra >= 3 else ["infra"]
        else:
            q += 1
            short = f"dh-query-{q}"
            roles = ["query"]
            # Every 4th query node also runs a DIS (dh-query-1 is always one: it plays
            # the role of the fixture's split node), every 7th also merges.
            if q % 4 == 1:
                roles.append("dis")
            if q % 7 == 3:
                roles.append("merge")
        nodes.append(Node(i + 1, short, ip_for("10.1", 2, i), roles))
    if not any("query" in n.roles for n in nodes):
        nodes[-1].roles.append("query")
    if not any("dis" in n.roles for n in nodes):
        nodes[-1].roles.append("dis")

    # New names: infra-N / query-N keep the order; a few DIS nodes split (their dis role
    # moves to ingest-N). The first DIS node always splits, then roughly every third.
    infra_n = query_n = ingest_n = 0
    dis_nodes = [n for n in nodes if "dis" in n.roles]
    split = {id(n) for k, n in enumerate(dis_nodes) if "query" in n.roles and k % 3 == 0}
    for i, n in enumerate(nodes):
        if "infra" in n.roles:
            infra_n += 1
            n.new_short = f"infra-{infra_n}"
        else:
            query_n += 1
            n.new_short = f"query-{query_n}"
        n.new_ip = ip_for("10.20", 0, i)
        if id(n) in split:
            ingest_n += 1
            n.split_short = f"ingest-{ingest_n}"
            n.split_ip = ip_for("10.20", 100, ingest_n - 1)
    return nodes


# --------------------------------------------------------------------------------------
# Output with running SHA-256 for the manifest
# --------------------------------------------------------------------------------------


class TreeWriter:
    def __init__(self, root):
        self.root = root
        self.hashes = {}  # relative path -> hex

    def write(self, rel, content, mode=0o644, crlf=False):
        if isinstance(content, str):
            if crlf:
                content = content.replace("\n", "\r\n")
            data = content.encode("utf-8")
        else:
            data = content
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        self.hashes[rel] = hashlib.sha256(data).hexdigest()

    def write_etcd_snapshot(self, rel, mib, rng, member):
        """A real etcd v3 snapshot of this bundle's configuration, at `rel`.

        Starts a throwaway single-member etcd (/usr/bin/etcd; SYNTHETIC_ETCD_BIN and
        SYNTHETIC_ETCDCTL_BIN override the binaries) with its data directory in /dev/shm
        when that has room, else under OUT_DIR; puts every configuration item of the bundle
        where the default layout (templates/etcd-layout-v2.yaml: each item a directory with
        its `file` part = the file's bytes, its `name` part and a meta subtree) puts it
        (through scripts/load-tree-into-etcd.py's functions); then filler keys
        /bench/filler/NNNNNN outside the layout's prefix, 1 MiB values drawn from `rng`,
        until the database is about `mib` MiB (never below what the items need); then
        `etcdctl snapshot save`. The member is named and advertised as the old cluster's
        first node (`member` = (name, ip)), whatever ports the throwaway etcd listens on.

        Same seed, same items and filler: the snapshot's keys, values and revisions are the
        same across runs, but its bytes need not be (bbolt's page layout depends on how
        etcd batched its commits), so MANIFEST.sha256's line for it may differ.
        """
        loader = load_tree_module()
        prefix = read_layout_prefix()
        puts, items = loader.layout_puts(self.root, LAYOUT_FILE)
        if any(not k.startswith(prefix) for k in puts) or FILLER_PREFIX.startswith(prefix):
            sys.exit("layout keys and filler keys overlap")
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with EtcdProcess(member, wal_mib=2 * mib + 64, spill_dir=os.path.dirname(self.root)) as etcd:
            batch, size = [], 0
            for key, (value, _item) in sorted(puts.items()):
                batch.append((key.encode(), value))
                size += len(value)
                if len(batch) == 1000 or size > 8 * CHUNK:
                    loader.put_many(etcd.url, batch)
                    batch, size = [], 0
            if batch:
                loader.put_many(etcd.url, batch)
            # Filler: what the items leave of `mib`, in values that fill 256 pages each.
            in_use = etcd.db_in_use()
            fillers = max(0, -(-(mib * CHUNK - in_use) // CHUNK))
            pool = rng.randbytes(8 * CHUNK)
            value_len = CHUNK - 512
            for start in range(0, fillers, FILLERS_PER_TXN):
                batch = []
                for i in range(start, min(start + FILLERS_PER_TXN, fillers)):
                    off = rng.randrange(0, 7 * CHUNK)
                    # A counter header keeps values distinct even when offsets repeat.
                    value = i.to_bytes(8, "little") + pool[off:off + value_len - 8]
                    batch.append((f"{FILLER_PREFIX}{i:06d}".encode(), value))
                loader.put_many(etcd.url, batch)
            etcd.save(path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        os.chmod(path, 0o644)
        self.hashes[rel] = h.hexdigest()
        return items, fillers

    def write_manifest(self):
        lines = [f"{self.hashes[p]}  {p}\n" for p in sorted(self.hashes, key=lambda s: s.encode())]
        self.write("MANIFEST.sha256", "".join(lines))


LAYOUT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "templates",
                           "etcd-layout-v2.yaml")
FILLER_PREFIX = "/bench/filler/"
FILLERS_PER_TXN = 8


def load_tree_module():
    """scripts/load-tree-into-etcd.py as a module (its name has dashes)."""
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("load_tree", os.path.join(here, "load-tree-into-etcd.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_layout_prefix():
    with open(LAYOUT_FILE) as f:
        return load_tree_module().parse_layout(f.read(), LAYOUT_FILE)[1]


class EtcdProcess:
    """A throwaway single-member etcd on free loopback ports, stopped and removed on exit.
    Never give this process environment variables named ETCD_* (etcd reads them as flags):
    they are dropped from its environment."""

    def __init__(self, member, wal_mib, spill_dir):
        self.member, self.wal_mib, self.spill_dir = member, wal_mib, spill_dir
        self.etcd = os.environ.get("SYNTHETIC_ETCD_BIN", "/usr/bin/etcd")
        self.etcdctl = os.environ.get("SYNTHETIC_ETCDCTL_BIN", "/usr/bin/etcdctl")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}

    def __enter__(self):
        import socket
        import tempfile
        # The database and the WAL (every value twice, roughly) in memory when they fit.
        need = 3 * self.wal_mib * CHUNK
        base = "/dev/shm" if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > need else self.spill_dir
        self.work = tempfile.mkdtemp(prefix="dh-synthetic-etcd.", dir=base)
        socks = [socket.socket() for _ in range(2)]
        for x in socks:
            x.bind(("127.0.0.1", 0))
        client_port, peer_port = (x.getsockname()[1] for x in socks)
        for x in socks:
            x.close()
        self.url = f"http://127.0.0.1:{client_port}"
        name, ip = self.member
        self.log = open(os.path.join(self.work, "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            [self.etcd, "--name", name, "--data-dir", os.path.join(self.work, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", f"https://{ip}:2379",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://{ip}:2380",
             "--initial-cluster", f"{name}=http://{ip}:2380",
             "--initial-cluster-token", "synthetic-old-cluster",
             "--heartbeat-interval=100", "--election-timeout=1000",
             "--max-txn-ops=10000", f"--max-request-bytes={64 * CHUNK}",
             f"--quota-backend-bytes={8 * 1024 * CHUNK}", "--snapshot-count=1000000"],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        # Poll until the member answers (a readiness check, not a timing assumption).
        for _ in range(300):
            if self.proc.poll() is not None:
                self._fail("etcd exited early")
            try:
                self.db_in_use()
                return self
            except OSError:
                time.sleep(0.1)
        self._fail("etcd did not answer within 30 s")

    def _fail(self, what):
        self.__exit__(None, None, None)
        with open(os.path.join(self.work, "etcd.log"), "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace")[-4000:])
        sys.exit(what)

    def db_in_use(self):
        got = load_tree_module().post(self.url, "/v3/maintenance/status", {}, timeout=2)
        return int(got.get("dbSizeInUse", got.get("dbSize", 0)))

    def save(self, path):
        tmp = path + ".tmp"
        r = subprocess.run([self.etcdctl, f"--endpoints={self.url}", "snapshot", "save", tmp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        if r.returncode != 0:
            sys.stderr.write(r.stdout.decode(errors="replace"))
            sys.exit("etcdctl snapshot save failed")
        os.replace(tmp, path)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)
        return False


# --------------------------------------------------------------------------------------
# cluster.cnf and iris-endpoints.prop (old and new share the variable/key scheme)
# --------------------------------------------------------------------------------------


def cluster_cnf(name, domain, entries):
    """entries: list of (fqdn, ip, roles)."""
    out = [
        f"# Deephaven cluster definition, written by the installer (dh_install) for cluster {name}.",
        '# Format: VAR="value", no spaces around "=".',
        "#",
        f'DH_CLUSTER_NAME="{name}"',
        f'DH_DOMAIN_ROOT="{domain}"',
        'DH_ADMIN_USER="irisadmin"',
        f'DH_ETCD_TOKEN="{name}-etcd-token"',
        'DH_ETCD_CLIENT_PORT="2379"',
        f'DH_LDAP_HOST="{KEEP_HOSTS[0]}"',
        "",
    ]
    for k, (fqdn, ip, roles) in enumerate(entries, 1):
        out.append(f"# Node {k}: {', '.join(roles)}")
        out.append(f'DH_NODE_{k}_NAME="{fqdn}"')
        out.append(f'DH_NODE_{k}_IP="{ip}"')
        for r in roles:
            out.append(f'DH_NODE_{k}_ROLE_{r.upper()}="true"')
        out.append("")
    return "\n".join(out)


def old_cnf_entries(nodes):
    return [(n.fqdn, n.ip, n.roles) for n in nodes]


def new_cnf_entries(nodes):
    out = []
    for n in nodes:
        roles = [r for r in n.roles if not (r == "dis" and n.split_short)]
        out.append((n.new_fqdn, n.new_ip, roles))
    for n in nodes:
        if n.split_short:
            out.append((n.split_fqdn, n.split_ip, ["dis"]))
    return out


def endpoints_prop(nodes, new):
    """Same keys for old and new, so that key alignment pairs old and new hosts."""
    def host(n, role=None):
        if not new:
            return n.fqdn
        return n.dis_fqdn_new() if role == "dis" else n.new_fqdn

    def ip(n, role=None):
        if not new:
            return n.ip
        return (n.split_ip or n.new_ip) if role == "dis" else n.new_ip

    infra = [n for n in nodes if "infra" in n.roles]
    first = infra[0]
    lines = [
        "# iris-endpoints.prop -- GENERATED by the Deephaven installer.",
        "# Regenerated on every install and upgrade; manual edits are lost.",
        "",
        f"configuration.server.host={host(first)}",
        "configuration.server.port=22023",
        f"authentication.server.host={host(first)}",
        "authentication.server.port=9030",
        f"iris.controller.host={host(first)}",
        f"web.api.host={host(first)}",
        f"las.host={host(first)}",
        f"tdcp.host.db_tdcp={host(first)}",
        f"ltds.host.db_ltds={host(first)}",
        f"etcd.endpoints=https://{ip(first)}:2379",
    ]
    for k, n in enumerate(infra, 1):
        lines.append(f"infra.host.{k}={host(n)}")
        lines.append(f"infra.ip.{k}={ip(n)}")
    q = d = m = 0
    for n in nodes:
        if "query" in n.roles:
            q += 1
            lines.append(f"query.server.host.{q}={host(n)}")
            lines.append(f"query.server.ip.{q}={ip(n)}")
        if "dis" in n.roles:
            d += 1
            lines.append(f"dis.host.{d}={host(n, 'dis')}")
            lines.append(f"dis.ip.{d}={ip(n, 'dis')}")
        if "merge" in n.roles:
            m += 1
            lines.append(f"merge.server.host.{m}={host(n)}")
    return "\n".join(lines) + "\n"


DEFAULTS_PROP = """# iris-defaults.prop -- vendor defaults shipped with Deephaven Enterprise.
# Do not edit: replaced on every upgrade.

IrisDB.rootDirectory=/db
intraday.tailerPort=22021
intraday.tableDataPort=22015
tdcp.port=22016
ltds.port=22014
las.port=22020
RemoteQueryDispatcher.workerHeapMB=4096
RemoteQueryDispatcher.host=localhost
DataImportServer.maxConcurrentImports=16
"""


# --------------------------------------------------------------------------------------
# Property files
# --------------------------------------------------------------------------------------


class PropGen:
    """Produces sections of property lines with host references in every grammar position.

    Role rule (so that the generated case migrates without ambiguity): a split node may be
    referenced anywhere (the mapping gives it a default), but a scope naming several
    services only ever mentions infra nodes.

    With new=True the same draws name the new hosts: DIS nodes (used only inside
    `[service.name=db_dis]` blocks) by their dis role, every other node by its default."""

    def __init__(self, nodes, rng, tag, new=False):
        self.nodes = nodes
        self.rng = rng
        self.tag = tag

        def view(ns, role=None):
            return [NewView(n, role) for n in ns] if new else ns

        self.infra = view([n for n in nodes if "infra" in n.roles])
        self.query = view([n for n in nodes if "query" in n.roles])
        self.dis = view([n for n in nodes if "dis" in n.roles], "dis")
        self.merge = view([n for n in nodes if "merge" in n.roles]) or self.query
        self.section = 0

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def key(self, j, suffix):
        prefix = KEY_PREFIXES[(self.section + j) % len(KEY_PREFIXES)]
        return f"{prefix}.{self.tag}{self.section:05d}.{suffix}"

    def next_section(self):
        self.section += 1
        s = self.section
        r = self.rng
        topic = TOPICS[s % len(TOPICS)]
        inf = self.pick(self.infra)
        q1, q2, q3 = self.pick(self.query), self.pick(self.query), self.pick(self.query)
        d = self.pick(self.dis)
        m = self.pick(self.merge)
        out = [
            "",
            "# " + "-" * 78,
            f"# {topic} ({self.tag} section {s})",
            "# " + "-" * 78,
            f"# {topic} used to run on {q1.short}; most of it moved to {q2.short}.",
            f"{self.key(0, 'url')}=https://{inf.fqdn}:8000/iris/{topic}/",
            f"{self.key(1, 'endpoint')}={q1.fqdn}:{22000 + r.randrange(1000)}",
            f"{self.key(2, 'hosts')}={q1.fqdn},{q2.fqdn},{q3.fqdn}",
            f"{self.key(3, 'address')}={q2.ip}",
            f"{self.key(4, 'jvmArgs')}=-Xmx{r.choice([2, 4, 8, 16])}g -D{topic}.host={inf.fqdn} -XX:+UseG1GC",
            f"{self.key(5, 'timeoutMillis')}={r.randrange(1000, 60000)}",
            f"{self.key(6, 'enabled')}={r.choice(['true', 'false'])}",
            f"{self.key(7, 'label')}: {topic.title()} on {q3.short}",
            f"{self.key(8, 'note')}=see {inf.short}   # not a comment",
            f"{self.key(9, 'path')}=/db/TempFiles/{topic}/{s}",
            f"! {topic}: reviewed {2020 + s % 5}-{1 + s % 12:02d}-{1 + s % 28:02d}",
            f"{self.key(10, 'list')}={q1.short},\\",
            f"    {q2.short},\\",
            f"    {q3.short}",
            "",
            "[service.name=db_dis] {",
            f"    # {topic} imports land on {d.short} ({d.ip}).",
            f"    DataImportServer.{self.tag}{s:05d}.host={d.fqdn}",
            f"    DataImportServer.{self.tag}{s:05d}.bindAddress={d.ip}",
            f"    DataImportServer.{self.tag}{s:05d}.tableDataEndpoint={d.fqdn}:22015",
            "}",
            "[service.name=db_query_server]",
            "{",
            f"    RemoteQueryDispatcher.{self.tag}{s:05d}.advertiseHost={q1.fqdn}",
            f"    RemoteQueryDispatcher.{self.tag}{s:05d}.advertiseAddress={q1.ip}:22013",
            f"}} RemoteQueryDispatcher.{self.tag}{s:05d}.drain=true",
            "[service.name=db_query_server|db_merge_server] {",
            f"    RemoteQueryDispatcher.{self.tag}{s:05d}.tdcpHost={inf.fqdn}:22016",
            "}",
            f"[host={m.short}|{m.fqdn}|{m.ip}] {{",
            f"    MergeServer.{self.tag}{s:05d}.scratch=/db/TempFiles/merge",
            f"    MergeServer.{self.tag}{s:05d}.peer={inf.fqdn}",
            "}",
            "[service.name=iris_controller] {",
            f"    [process.name=iris_controller_{topic}] {{",
            f"        PersistentQueryController.{self.tag}{s:05d}.peer={inf.fqdn}:20126",
            "    }",
            "}",
            f"{self.key(11, 'secret')}=fake-secret-{r.getrandbits(48):012x}",
            f"{self.key(12, 'description')}=Soci\\u00e9t\\u00e9 {topic}\\t{s}",
            f"{self.key(13, 'vendor')}=tcp://{KEEP_HOSTS[2]}:{9400 + s % 50}",
        ]
        return out


def prop_file(nodes, rng, tag, target_lines, header, first_lines=(), new=False):
    gen = PropGen(nodes, rng, tag, new)
    lines = [f"# {header}", "# Synthetic site overrides generated by scripts/gen-synthetic.py."]
    lines.extend(first_lines)
    lines.append(f"final Synthetic.{tag}.locked.root=/db")
    while len(lines) < target_lines - 3:
        lines.extend(gen.next_section())
    lines.append("")
    lines.append(f"finalize Synthetic.{tag}.locked.*, auth.*.secret")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Routing, DIS configs, schemas, PQs, ACLs, tailers
# --------------------------------------------------------------------------------------


def dis_anchor(n):
    return f"dis-host-{n.short}"


def routing_yaml(nodes, dis_names, new):
    infra = next(n for n in nodes if "infra" in n.roles)
    dis_nodes = [n for n in nodes if "dis" in n.roles]
    infra_host = infra.new_fqdn if new else infra.fqdn
    out = [
        "# Data routing (synthetic). Separately stored DIS configs are listed as TDCP sources.",
        "",
        "anchors:",
        f"  - &infra-host {infra_host}",
        "  - &default-dis-ports {tailerPort: 22021, tableDataPort: 22015}",
        "  - &dis-base",
        "    userIntradayDirectoryName: IntradayUser",
        "    storage: default",
        "    definitionsStorage: default",
        "    webServerParameters:",
        "      enabled: false",
    ]
    # One anchor per DIS node whose entry aliases it (entries k % 3 == 2 spell the host out);
    # these anchors are aliased only from dataImportServers, so their role is dis.
    for k, n in enumerate(dis_nodes):
        if k % 3 != 2:
            out.append(f"  - &{dis_anchor(n)} {n.dis_fqdn_new() if new else n.fqdn}")
    out += ["", "storage:", "  - name: default", "    dbRoot: /db"]
    for name in dis_names:
        out += [f"  - name: {name}", f"    dbRoot: /db/dataImportServers/{name}"]
    out += ["", "dataImportServers:"]
    for k, n in enumerate(dis_nodes):
        name = "db_dis" if k == 0 else f"db_dis_{k}"
        host = n.dis_fqdn_new() if new else n.fqdn
        out.append(f"  # Main DIS number {k + 1}.")
        out.append(f"  {name}:")
        # A map has one `<<` key; several merge sources go in one list.
        out.append("    <<: [*dis-base, *default-dis-ports]" if k % 3 == 2 else "    <<: *dis-base")
        if k % 3 == 0:
            out += [f"    host: *{dis_anchor(n)}", "    tailerPort: 22021", "    tableDataPort: 22015"]
        elif k % 3 == 1:
            out += ["    endpoint:", f"      host: *{dis_anchor(n)}", "      tailerPort: 22121",
                    "      tableDataPort: 22115"]
        else:
            out += [f'    host: "{host}"']
    out += [
        "",
        "tableDataServices:",
        "  db_ltds:",
        "    host: *infra-host",
        "    port: 22014",
        "    storage: default",
        "  db_tdcp:",
        "    host: *infra-host",
        "    port: 22016",
        "    sources:",
    ]
    for k in range(len(dis_nodes)):
        out.append(f"      - name: {'db_dis' if k == 0 else f'db_dis_{k}'}")
    for name in dis_names:
        out.append(f"      - name: {name}")
    out += [
        "  query:",
        "    sources:",
        "      - name: db_tdcp",
        "      - name: db_ltds",
        "",
        "logAggregatorServers:",
        "  log_aggregator_service:",
        "    host: *infra-host",
        "    port: 22020",
        "    filters: {namespaceSet: System}",
    ]
    return "\n".join(out) + "\n"


def dis_config(name, k, node, claims, new):
    host = node.dis_fqdn_new() if new else node.fqdn
    ip = (node.split_ip or node.new_ip) if new else node.ip
    out = [f"# {name}: synthetic in-worker DIS on {host}.", f"name: {name}", "endpoint:"]
    if k % 3 == 0:
        out += [f"  host: {host}", f"  tailerPort: {23000 + k % 1000}", f"  tableDataPort: {24000 + k % 1000}"]
    elif k % 3 == 1:
        out += [f"  host: {ip}", f"  tailerPort: {23000 + k % 1000}", f"  tableDataPort: {24000 + k % 1000}"]
    else:
        out += ["  serviceRegistry: registry"]
    out.append("claims:")
    for ns, table in claims:
        out.append(f"  - {{namespace: {ns}, tableName: {table}}}")
    out.append(f"storage: {name}")
    return "\n".join(out) + "\n"


def schema_xml(ns, table, rng, host_node):
    cols = [("Date", "String", ' columnType="Partitioning"'), ("Timestamp", "DateTime", ""),
            ("Sym", "String", ' columnType="Grouping"')]
    for c in range(rng.randrange(4, 16)):
        cols.append((f"Col{c:02d}", rng.choice(COLUMN_TYPES), ""))
    out = []
    if host_node is not None:
        out.append(f"<!-- Loaded by an importer on {host_node.fqdn}. -->")
    out.append(f'<Table name="{table}" namespace="{ns}" defaultMergeFormat="DeephavenV1" '
               f'storageType="NestedPartitionedOnDisk">')
    out.append('  <Partitions keyFormula="${autobalance_single}"/>')
    for name, typ, extra in cols:
        out.append(f'  <Column name="{name}" dataType="{typ}"{extra}/>')
    out.append(f'  <Listener logFormat="1" listenerPackage="com.example.gen.{ns.lower()}" '
               f'listenerClass="{table}Listener">')
    for name, _typ, _extra in cols[1:]:
        out.append(f'    <Column name="{name}"/>')
    out.append("  </Listener>")
    if host_node is not None:
        out.append(f'  <ImportSource name="{table}Jdbc" type="JDBC" '
                   f'jdbcUrl="jdbc:postgresql://{host_node.fqdn}:5432/{ns.lower()}"/>')
    out.append("</Table>")
    return "\n".join(out) + "\n"


def pq_xml(k, server, host_node):
    script = f't = db.i("Market", "Trades").where("Date = today()")\nsummary{k} = t.lastBy("Sym")\n'
    if host_node is not None:
        script += (f'ext = jdbc.read_sql("jdbc:postgresql://{host_node.fqdn}:5432/analytics", '
                   f'"SELECT 1")\n')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<PersistentQuery serial="{1651237781000000000 + k}" version="3">\n'
        f"  <Name>Synthetic_{k:04d}</Name>\n"
        "  <Owner>irisadmin</Owner>\n"
        "  <Enabled>true</Enabled>\n"
        "  <ConfigurationType>Script</ConfigurationType>\n"
        f"  <ServerName>{server}</ServerName>\n"
        "  <HeapSizeGB>4.0</HeapSizeGB>\n"
        "  <ScriptLanguage>Groovy</ScriptLanguage>\n"
        f"  <Script><![CDATA[\n{script}]]></Script>\n"
        "</PersistentQuery>\n"
    )


def acls_xml(rng, n_users):
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<Acls version="1">', "  <Users>"]
    users = [f"user{u:04d}" for u in range(n_users)]
    for u in users:
        out.append(f'    <User name="{u}" authentication="ldap"/>')
    out += ["  </Users>", "  <Groups>"]
    for g in range(max(1, n_users // 10)):
        out.append(f'    <Group name="group{g:03d}">')
        for u in rng.sample(users, min(len(users), 5)):
            out.append(f"      <Member>{u}</Member>")
        out.append("    </Group>")
    out += ["  </Groups>", "</Acls>"]
    return "\n".join(out) + "\n"


def tailer_xml(title, node, entries):
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<!-- {title} on {node.fqdn} ({node.ip}). -->",
           "<Processes>", f'  <Process name="tailer1" maxKBps="102400">',
           f"    <Description>Binary logs written on {node.short}</Description>"]
    for ns, table, dis in entries:
        extra = f' disName="{dis}"' if dis else ""
        out.append(f'    <Log namespace="{ns}" tableName="{table}" fileType="binary" '
                   f'logDirectory="/var/log/deephaven/binlogs/{ns.lower()}" '
                   f'filePatternRegex="^{ns}\\.{table}\\.({node.short})\\..*\\.bin\\..*$"{extra}/>')
    out += ["  </Process>", "</Processes>"]
    return "\n".join(out) + "\n"


def mapping_yaml(nodes):
    out = ["# Synthetic mapping written by scripts/gen-synthetic.py.", "version: 1", "hosts:"]
    for n in nodes:
        if n.split_short:
            out += [f"  {n.fqdn}:", f"    default: {n.new_fqdn}", "    roles:", f"      dis: {n.split_fqdn}",
                    f"  {n.ip}:", f"    default: {n.new_ip}", "    roles:", f"      dis: {n.split_ip}"]
        else:
            out += [f"  {n.fqdn}: {n.new_fqdn}", f"  {n.ip}: {n.new_ip}"]
    out.append("keep:")
    out += [f"  - {h}" for h in KEEP_HOSTS]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


class TargetEdits:
    """The deliberate differences of a full target: what a new cluster looks like after a
    partial manual migration. Works on the target's migrated copies (path -> text) before
    they are written; draws from its own generator, so the bundle never depends on it.

    Kinds, each counted: property values changed, property keys the new cluster added,
    schema columns added, DIS ports changed, PQ heap sizes changed, and files the new
    cluster lacks (schemas, DIS configs, PQs). Every edit keeps the file parseable."""

    # How many of each kind at the default scale (capped by what the data set holds).
    PROP_VALUES = 150
    PROP_KEYS = 60
    SCHEMA_COLUMNS = 30
    SCHEMAS_MISSING = 40
    DIS_PORTS = 30
    DIS_MISSING = 10
    PQ_HEAPS = 20
    PQS_MISSING = 5

    def __init__(self, seed):
        self.rng = random.Random(seed * 7919 + 17)
        self.counts = {}

    def sample(self, seq, n):
        return self.rng.sample(seq, min(n, len(seq)))

    def count(self, kind, n):
        self.counts[kind] = self.counts.get(kind, 0) + n

    def apply(self, files):
        """files: rel -> [text, mode, crlf]; edited in place (missing files removed)."""
        self.props(files)
        paths = sorted(files)
        schemas = [p for p in paths if p.startswith("config/schemas/")]
        dis = [p for p in paths if p.startswith("config/routing/dis/")]
        pqs = [p for p in paths if p.startswith("config/pq/")]

        touched = set()
        for p in self.sample(schemas, self.SCHEMA_COLUMNS):
            files[p][0] = files[p][0].replace(
                "  <Listener ", '  <Column name="AddedOnNewCluster" dataType="long"/>\n  <Listener ', 1)
            touched.add(p)
            self.count("schema columns added", 1)
        port = re.compile(r"^(  tailerPort: )(\d+)$", re.M)
        for p in self.sample([p for p in dis if port.search(files[p][0])], self.DIS_PORTS):
            files[p][0] = port.sub(lambda m: f"{m[1]}{int(m[2]) + 5000}", files[p][0], count=1)
            touched.add(p)
            self.count("DIS tailer ports changed", 1)
        for p in self.sample(pqs, self.PQ_HEAPS):
            files[p][0] = files[p][0].replace("<HeapSizeGB>4.0</HeapSizeGB>", "<HeapSizeGB>8.0</HeapSizeGB>")
            touched.add(p)
            self.count("PQ heap sizes changed", 1)
        # Missing files last, from what no other edit touched, so every count stays visible.
        for kind, pool, n in (("schemas missing", schemas, self.SCHEMAS_MISSING),
                              ("DIS configs missing", dis, self.DIS_MISSING),
                              ("PQs missing", pqs, self.PQS_MISSING)):
            for p in self.sample([p for p in pool if p not in touched], n):
                del files[p]
                self.count(kind, 1)

    def props(self, files):
        props = sorted(p for p in files if p.startswith("config/props/"))
        lines = {p: files[p][0].split("\n") for p in props}
        # Top-level declarations only (a key inside a scope block is indented), and never a
        # `final` one: a changed value or an added key must keep the file valid.
        values = [(p, i) for p in props for i, line in enumerate(lines[p])
                  if re.match(r"^[A-Za-z][\w.]*\.(timeoutMillis|enabled)=", line)]
        for p, i in self.sample(values, self.PROP_VALUES):
            key, value = lines[p][i].split("=", 1)
            if value in ("true", "false"):
                value = "false" if value == "true" else "true"
            else:
                value = str(int(value) * 2)
            lines[p][i] = f"{key}={value}"
            self.count("property values changed", 1)
        # New keys go after the `! topic: reviewed ...` comment of a section (top level).
        anchors = [(p, i) for p in props for i, line in enumerate(lines[p]) if line.startswith("! ")]
        chosen = self.sample(anchors, self.PROP_KEYS)
        for j, (p, i) in enumerate(sorted(chosen, key=lambda x: (x[0], -x[1]))):
            lines[p].insert(i + 1, f"NewCluster.setting{j:03d}=added-after-install-{j}")
            self.count("property keys added", 1)
        for p in props:
            files[p][0] = "\n".join(lines[p])


def generate(args):
    rng = random.Random(args.seed)
    out_dir = os.path.abspath(args.out_dir)
    bundle_dir = os.path.join(out_dir, "bundle")
    target_dir = os.path.join(out_dir, "target")
    tarball = os.path.join(out_dir, "bundle.tar.gz")
    mapping = os.path.join(out_dir, "mapping.yaml")
    params_file = os.path.join(out_dir, PARAMS_FILE)
    existing = [p for p in (bundle_dir, target_dir, tarball, mapping, params_file) if os.path.exists(p)]
    if existing and not args.force:
        sys.exit(f"refusing to overwrite {', '.join(existing)} (pass --force)")
    for p in existing:
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(out_dir, exist_ok=True)

    t0 = time.monotonic()
    nodes = build_cluster(args.nodes, rng)
    infra = [n for n in nodes if "infra" in n.roles]
    query = [n for n in nodes if "query" in n.roles]
    dis_nodes = [n for n in nodes if "dis" in n.roles]
    first = infra[0]
    new_first = NewView(first)

    b = TreeWriter(bundle_dir)
    # --full-target: the target's copy of every migrated bundle file, rel -> [text, mode,
    # crlf], with the new host names. A copy that needs random draws replays the bundle's
    # draws from a fork of the generator, so the bundle is the same with or without it.
    full = {} if args.full_target else None

    def both(rel, old_text, new_text=None, mode=0o644, crlf=False):
        b.write(rel, old_text, mode=mode, crlf=crlf)
        if full is not None and new_text is not None:
            full[rel] = [new_text, mode, crlf]

    b.write("cluster/cluster.cnf", cluster_cnf("synthetic-old", OLD_DOMAIN, old_cnf_entries(nodes)))

    # Property files: ~prop_lines in total over four files.
    shares = [("iris-environment", 0.55, "iris-environment.prop", False, ()),
              ("iris-common", 0.20, "iris-common.prop", True, ("includefiles=iris-defaults.prop",)),
              ("iris-site-query", 0.15, "iris-site-query.prop", False, ()),
              ("iris-site-ingest", 0.10, "iris-site-ingest.prop", False, ())]
    for tag, share, fname, crlf, first_lines in shares:
        lines = max(60, int(args.prop_lines * share))
        new_text = None
        if full is not None:
            new_text = prop_file(nodes, fork(rng), tag.replace("-", "_"), lines, fname, first_lines, new=True)
        text = prop_file(nodes, rng, tag.replace("-", "_"), lines, fname, first_lines)
        both(f"config/props/{fname}", text, new_text, crlf=crlf)
    b.write("config/props/iris-endpoints.prop", endpoints_prop(nodes, new=False))
    b.write("config/props/iris-defaults.prop", DEFAULTS_PROP)

    # Schemas.
    n_ns = max(1, (args.schemas + 99) // 100)
    namespaces = [f"{NAMESPACE_BASES[i % len(NAMESPACE_BASES)]}{i // len(NAMESPACE_BASES) + 1:02d}"
                  for i in range(n_ns)]
    tables = []
    for i in range(args.schemas):
        ns = namespaces[i % n_ns]
        table = f"{TABLE_BASES[(i // n_ns) % len(TABLE_BASES)]}{i // n_ns:04d}"
        tables.append((ns, table))
        host_node = rng.choice(query) if i % 50 == 7 else None
        new_text = None
        if full is not None:
            new_text = schema_xml(ns, table, fork(rng), host_node and NewView(host_node))
        both(f"config/schemas/{ns}/{ns}.{table}.schema", schema_xml(ns, table, rng, host_node), new_text)

    # DIS configs, round-robin over the DIS nodes.
    dis_names = [f"Ingester{k:04d}" for k in range(1, args.dis + 1)]
    dis_owner = {}
    for k, name in enumerate(dis_names):
        node = dis_nodes[k % len(dis_nodes)]
        dis_owner[name] = node
        claims = [tables[rng.randrange(len(tables))] for _ in range(rng.randrange(1, 4))] if tables else []
        both(f"config/routing/dis/{name}.yaml", dis_config(name, k, node, claims, new=False),
             dis_config(name, k, node, claims, new=True))
    both("config/routing/routing.yaml", routing_yaml(nodes, dis_names, new=False),
         routing_yaml(nodes, dis_names, new=True))

    # PQs and ACLs.
    for k in range(1, 2 * len(nodes) + 1):
        qn = query[k % len(query)]
        server = f"Query_{query.index(qn) + 1}"
        host_node = rng.choice(query) if k % 10 == 0 else None
        both(f"config/pq/Synthetic_{k:04d}.xml", pq_xml(k, server, host_node),
             pq_xml(k, server, host_node and NewView(host_node)))
    acls = acls_xml(rng, max(20, len(nodes) * 4))
    both("config/acls/acls.xml", acls, acls)

    # Per-node files: the infra node's tailer and etcd client files at the top level, one
    # DIS tailer per DIS node under nodes/<fqdn>/ (tailer files are dis context).
    sys_entries = [("DbInternal", t, None) for t in ("ProcessEventLog", "AuditEventLog", "QueryPerformanceLog")]
    both("files/etc/sysconfig/illumon.d/resources/tailerConfig.xml",
         tailer_xml("Tailer configuration", first, sys_entries),
         tailer_xml("Tailer configuration", NewView(first, "dis"), sys_entries))
    for n in dis_nodes:
        entries = []
        for name in dis_names:
            if dis_owner[name] is n:
                ns, table = tables[int(name[-4:]) % len(tables)] if tables else ("Market", "Trades")
                entries.append((ns, table, name))
        # Under the old node's name in the target too: plan compares by bundle path.
        both(f"nodes/{n.fqdn}/files/etc/sysconfig/illumon.d/resources/tailerConfigDis.xml",
             tailer_xml("DIS tailer configuration", n, entries),
             tailer_xml("DIS tailer configuration", NewView(n, "dis"), entries), crlf=True)
    etc = "files/etc/sysconfig/deephaven"
    b.write(f"{etc}/etcd/client/root/endpoints", f"https://{first.ip}:2379\n")
    b.write(f"{etc}/etcd/client/root/user", "root\n")
    b.write(f"{etc}/etcd/client/root/password", "fake-synthetic-etcd-password\n", mode=0o600)
    key = base64.b64encode(rng.randbytes(1200)).decode()
    key_text = "\n".join(key[i:i + 64] for i in range(0, len(key), 64)) + "\n"
    both(f"{etc}/auth/priv-iris.base64.txt", key_text, key_text, mode=0o600)
    both(f"{etc}/illumon.iris.hostconfig",
         f"# Node: {first.fqdn} ({first.ip})\nCONFIGURATION_SERVER_HOST={first.fqdn}\n"
         f'DH_ETCD_ENDPOINTS="https://{first.ip}:2379"\n',
         f"# Node: {new_first.fqdn} ({new_first.ip})\nCONFIGURATION_SERVER_HOST={new_first.fqdn}\n"
         f'DH_ETCD_ENDPOINTS="https://{new_first.ip}:2379"\n')
    t_text = time.monotonic()

    snapshot_items = snapshot_fillers = 0
    if args.snapshot_mib > 0:
        snapshot_items, snapshot_fillers = b.write_etcd_snapshot(
            "etcd/snapshot.db", args.snapshot_mib, rng, (first.short, first.ip))
    b.write_manifest()
    t_bundle = time.monotonic()

    # Target: the new cluster's export. Installer-owned parts first (always there).
    t = TreeWriter(target_dir)
    t.write("cluster/cluster.cnf", cluster_cnf("synthetic-new", NEW_DOMAIN, new_cnf_entries(nodes)))
    t.write("config/props/iris-endpoints.prop", endpoints_prop(nodes, new=True))
    t.write("config/props/iris-defaults.prop", DEFAULTS_PROP + "jvm.defaultJavaVersion=17\n")
    t.write(f"{etc}/etcd/client/root/endpoints", f"https://{first.new_ip}:2379\n")
    installer_env = ("# iris-environment.prop -- installer defaults of the new cluster.\n"
                     f"envoy.front.proxy.url=https://{first.new_fqdn}:8000\n"
                     f"Webapi.server.host={first.new_fqdn}\n"
                     f"etcd.client.endpoints=https://{first.new_ip}:2379\n"
                     "RemoteQueryDispatcher.workerHeapMB=4096\n"
                     "RemoteQueryDispatcher.useEnvoy=true\n")
    edits = None
    if full is None:
        # Installer defaults plus a few migrated items: most bundle files are missing.
        t.write("config/props/iris-environment.prop", installer_env)
        t.write("config/routing/routing.yaml", routing_yaml(nodes, dis_names[:5], new=True))
        for k, name in enumerate(dis_names[:5]):
            t.write(f"config/routing/dis/{name}.yaml",
                    dis_config(name, k, dis_owner[name], [tables[0]] if tables else [], new=True))
    else:
        # Every migrated item, new hosts everywhere, then the deliberate differences. The
        # new cluster's own etcd client login replaces the old one (installer-owned).
        t.write(f"{etc}/etcd/client/root/user", "root\n")
        t.write(f"{etc}/etcd/client/root/password", "fake-synthetic-new-etcd-password\n", mode=0o600)
        edits = TargetEdits(args.seed)
        edits.apply(full)
        for rel in sorted(full):
            text, mode, crlf = full[rel]
            t.write(rel, text, mode=mode, crlf=crlf)

    with open(mapping, "w") as f:
        f.write(mapping_yaml(nodes))

    if not args.no_tarball:
        # Fixed order, owner and mtime; gzip -1 because the filler does not compress anyway.
        with open(tarball, "wb") as f:
            tar = subprocess.Popen(
                ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                 f"--mtime=@{FIXED_MTIME}", f"--transform=s,^bundle,{TOP_FOLDER},",
                 "-C", out_dir, "-cf", "-", "bundle"],
                stdout=subprocess.PIPE)
            gz = subprocess.run(["gzip", "-1", "-n"], stdin=tar.stdout, stdout=f)
            tar.stdout.close()
            if tar.wait() != 0 or gz.returncode != 0:
                sys.exit("tar | gzip failed")
    t_end = time.monotonic()

    splits = [n for n in nodes if n.split_short]
    diffs = dict(sorted(edits.counts.items())) if edits else {}
    # Written last: its presence says the data set is complete, and with which options.
    with open(params_file, "w") as f:
        json.dump({"seed": args.seed, "nodes": args.nodes, "dis": args.dis, "schemas": args.schemas,
                   "prop_lines": args.prop_lines, "snapshot_mib": args.snapshot_mib,
                   "snapshot_items": snapshot_items, "snapshot_fillers": snapshot_fillers,
                   "tarball": not args.no_tarball, "full_target": args.full_target,
                   "bundle_files": len(b.hashes), "target_files": len(t.hashes),
                   "target_differences": diffs}, f, indent=2)
        f.write("\n")
    snap = os.path.join(bundle_dir, "etcd", "snapshot.db")
    snap_text = (f"a {os.path.getsize(snap) // CHUNK} MiB etcd snapshot: {snapshot_items} items, "
                 f"{snapshot_fillers} filler keys" if args.snapshot_mib > 0 else "no snapshot")
    print(f"bundle:  {bundle_dir} ({len(b.hashes)} files, {snap_text})", file=sys.stderr)
    print(f"target:  {target_dir} ({len(t.hashes)} files)", file=sys.stderr)
    if edits:
        print(f"         {sum(diffs.values())} deliberate differences: "
              + ", ".join(f"{v} {k}" for k, v in diffs.items()), file=sys.stderr)
    print(f"mapping: {mapping} ({len(nodes)} nodes, {len(splits)} split by role)", file=sys.stderr)
    if not args.no_tarball:
        print(f"tarball: {tarball} ({os.path.getsize(tarball) // CHUNK} MiB)", file=sys.stderr)
    print(f"time: text {t_text - t0:.1f}s, snapshot+manifest {t_bundle - t_text:.1f}s, "
          f"target+tarball {t_end - t_bundle:.1f}s", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--nodes", type=int, default=50, help="old cluster nodes (default 50)")
    p.add_argument("--dis", type=int, default=500, help="separately stored DIS configs (default 500)")
    p.add_argument("--schemas", type=int, default=5000, help="schema files (default 5000)")
    p.add_argument("--prop-lines", type=int, default=20000, help="property lines in total (default 20000)")
    p.add_argument("--snapshot-mib", type=int, default=1024,
                   help="size of the real etcd snapshot in MiB, filler keys included (default 1024; "
                        "never below what the configuration items need; 0: no snapshot)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--no-tarball", action="store_true", help="skip bundle.tar.gz")
    p.add_argument("--full-target", action="store_true",
                   help="write every migrated item into target/ (new hosts, a few hundred "
                        "deliberate differences) instead of installer defaults only")
    p.add_argument("--force", action="store_true", help="replace earlier output in OUT_DIR")
    args = p.parse_args()
    if args.nodes < 2:
        p.error("--nodes must be at least 2")
    if min(args.dis, args.schemas, args.prop_lines, args.snapshot_mib) < 0:
        p.error("counts must not be negative")
    generate(args)


if __name__ == "__main__":
    main()
