//! `layout detect` on a real etcd holding items the way Deephaven's published model does
//! (atomic directories with `file`, `name` and meta parts, PQs by serial): the same layout
//! from the live etcd and from its snapshot, one that maps every item back to its bundle
//! path, with runtime keys listed as not placed.

use dh_migrate::layout::Layout;

use crate::snapshot_reader::dh;
use crate::support::EtcdServer;

#[test]
fn detect_writes_a_v2_layout_from_a_live_etcd_and_from_its_snapshot() {
    let server = EtcdServer::start();
    let items: &[(&str, &[u8])] = &[
        ("/dh/config/props/iris-environment.prop/file", b"a=b\n"),
        (
            "/dh/config/props/iris-environment.prop/name",
            b"iris-environment.prop",
        ),
        ("/dh/config/props/iris-environment.prop/meta/guard", b"41"),
        ("/dh/config/routing/file", b"dataImportServers:\n  x: {}\n"),
        (
            "/dh/config/routing/disconfigs/Ingest1/file",
            b"claims: []\n",
        ),
        (
            "/dh/config/routing/disconfigs/Ingest1/name",
            b"Ingest1.yaml",
        ),
        (
            "/dh/config/schema/Market/tables/Trades/file",
            b"<Table name=\"Trades\" namespace=\"Market\" storageType=\"NestedPartitionedOnDisk\">",
        ),
        ("/dh/data/pq/1021/file", b"<PersistentQuery name=\"Dash\"/>"),
        ("/dh/data/pq/1021/name", b"Dash.xml"),
        ("/dh/runtime/leader/iris_controller", b"host-1:20126"),
    ];
    for (k, v) in items {
        server.put(k, v);
    }
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.db");
    server.etcdctl(&["snapshot", "save", snap.to_str().unwrap()]);
    let run = |args: &[&str]| {
        let out = dh(dir.path(), args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let offline = run(&["layout", "detect", "--snapshot", snap.to_str().unwrap()]);
    let live = run(&["layout", "detect", "--endpoints", &server.endpoint()]);
    assert_eq!(offline, live);
    let l = Layout::parse("detected", &offline).unwrap_or_else(|e| panic!("{e}\n{offline}"));
    assert_eq!((l.version, l.prefix.as_str()), (2, "/dh/"));
    let path = |k: &str| l.path_for(k).map(|(p, _)| p).unwrap_or_default();
    assert_eq!(path(items[0].0), "config/props/iris-environment.prop");
    assert_eq!(path(items[3].0), "config/routing/routing.yaml");
    assert_eq!(path(items[4].0), "config/routing/dis/Ingest1.yaml");
    assert_eq!(
        path(items[6].0),
        "config/schemas/Market/Market.Trades.schema"
    );
    let pq: Vec<(&str, &[u8])> = vec![(items[8].0, items[8].1)];
    assert_eq!(l.scanned(pq)[0].1, "config/pq/Dash.xml");
    assert!(offline.contains("# 1 keys not placed:\n#   /dh/runtime/leader/iris_controller\n"));
}
