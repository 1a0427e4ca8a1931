//! Real etcd servers for integration tests: a single member (plain or TLS with client
//! certificates), a multi-member cluster on loopback, and `etcdctl`-based helpers
//! (enabling auth, independent reads).
//!
//! Each member runs `/usr/bin/etcd` as a child with free loopback ports, a temporary data
//! directory and an empty environment (etcd reads any `ETCD_*` variable as a flag, and
//! `etcdctl` reads `ETCDCTL_*`). Readiness is taken from the member's own log line
//! "ready to serve client requests", read from its stderr; the reader thread keeps draining
//! stderr afterwards so a chatty member never blocks on a full pipe, and keeps the lines
//! so a failing start can show them. `Drop` kills and reaps every child.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;

const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";
/// etcd logs this once the member has joined the cluster and serves clients.
const READY_LINE: &str = "ready to serve client requests";
/// Generous: a loaded 2-core machine running several test binaries at once.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Port races with other test processes are possible (the port is free when probed, then
/// released for etcd to bind): a start that fails is retried with fresh ports.
const START_ATTEMPTS: usize = 3;

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Certificates for a TLS test etcd: a CA, a server certificate for 127.0.0.1/localhost,
/// a client certificate signed by the same CA, and a second, unrelated CA (for "untrusted
/// server" cases). All files are PEM in a temporary directory owned by this value.
pub struct TlsMaterial {
    _dir: TempDir,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca_cert: PathBuf,
}

impl TlsMaterial {
    pub fn generate() -> TlsMaterial {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().expect("tempdir for TLS material");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };

        let ca = |cn: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().expect("CA key");
            let cert = params.self_signed(&key).expect("self-sign CA");
            (cert.pem(), Issuer::new(params, key))
        };
        let (ca_pem, issuer) = ca("dh-migrate test CA");
        let (other_ca_pem, _) = ca("some other CA");

        // The server certificate also allows client auth: etcd 3.4's gRPC gateway dials
        // its own TLS listener with it.
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "etcd test server");
        server.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server_key = KeyPair::generate().expect("server key");
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("sign server cert");

        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "dh-migrate test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = client
            .signed_by(&client_key, &issuer)
            .expect("sign client cert");

        TlsMaterial {
            ca_cert: write("ca.pem", ca_pem),
            server_cert: write("server.pem", server_cert.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
            client_cert: write("client.pem", client_cert.pem()),
            client_key: write("client-key.pem", client_key.serialize_pem()),
            other_ca_cert: write("other-ca.pem", other_ca_pem),
            _dir: dir,
        }
    }
}

/// The TLS files a member serves with and `etcdctl` talks with.
#[derive(Clone)]
struct TlsFiles {
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// One running etcd process.
struct Member {
    child: Child,
    client_url: String,
    _data: TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

impl Member {
    fn kill(&mut self) {
        // Already exited is fine; either way reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What to start: one entry per member, all in one cluster.
struct Plan {
    names: Vec<String>,
    client_ports: Vec<u16>,
    peer_ports: Vec<u16>,
    tls: Option<TlsFiles>,
    token: String,
    /// More `etcd` flags for every member (e.g. lower limits).
    extra: Vec<String>,
}

/// Readiness events from a member's stderr reader.
enum Event {
    Ready(usize),
    Exited(usize),
}

static CLUSTER_SEQ: AtomicUsize = AtomicUsize::new(0);

impl Plan {
    fn new(size: usize, tls: Option<TlsFiles>, extra: &[&str]) -> Plan {
        let seq = CLUSTER_SEQ.fetch_add(1, Ordering::SeqCst);
        let token = format!("dh-migrate-test-{}-{seq}", std::process::id());
        Plan {
            names: (0..size).map(|i| format!("m{i}")).collect(),
            client_ports: (0..size).map(|_| free_port()).collect(),
            peer_ports: (0..size).map(|_| free_port()).collect(),
            tls,
            token,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn client_url(&self, i: usize) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_ports[i])
    }

    fn peer_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.peer_ports[i])
    }

    /// Start every member, then wait until each reports ready. `None` when a member
    /// exited first (typically a port taken in between), so the caller can retry.
    fn start(&self) -> Option<Vec<Member>> {
        let initial_cluster = (0..self.names.len())
            .map(|i| format!("{}={}", self.names[i], self.peer_url(i)))
            .collect::<Vec<_>>()
            .join(",");
        let (tx, rx) = mpsc::channel();
        let mut members = Vec::new();
        for i in 0..self.names.len() {
            let data = tempfile::tempdir().expect("etcd data dir");
            let client_url = self.client_url(i);
            let mut cmd = Command::new(ETCD);
            cmd.env_clear()
                .arg(format!("--name={}", self.names[i]))
                .arg(format!("--data-dir={}", data.path().display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={}", self.peer_url(i)))
                .arg(format!(
                    "--initial-advertise-peer-urls={}",
                    self.peer_url(i)
                ))
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg("--initial-cluster-state=new")
                .arg(format!("--initial-cluster-token={}", self.token))
                .arg("--heartbeat-interval=10")
                .arg("--election-timeout=100")
                // 1 GiB: the paging test alone writes several MiB, and revisions accumulate.
                .arg("--quota-backend-bytes=1073741824")
                .args(&self.extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(tls) = &self.tls {
                cmd.arg(format!("--cert-file={}", tls.server_cert.display()))
                    .arg(format!("--key-file={}", tls.server_key.display()))
                    .arg(format!("--trusted-ca-file={}", tls.ca_cert.display()))
                    .arg("--client-cert-auth");
            }
            let mut child = cmd.spawn().expect("spawn /usr/bin/etcd");
            let stderr = child.stderr.take().expect("piped stderr");
            let log = Arc::new(Mutex::new(Vec::new()));
            spawn_reader(i, stderr, tx.clone(), log.clone());
            members.push(Member {
                child,
                client_url,
                _data: data,
                log,
            });
        }
        drop(tx);
        let mut ready = vec![false; members.len()];
        while !ready.iter().all(|r| *r) {
            match rx.recv_timeout(READY_TIMEOUT) {
                Ok(Event::Ready(i)) => ready[i] = true,
                Ok(Event::Exited(_)) => return None,
                Err(_) => {
                    let logs: Vec<String> = members
                        .iter()
                        .map(|m| m.log.lock().map(|l| l.join("\n")).unwrap_or_default())
                        .collect();
                    panic!(
                        "etcd did not become ready in {READY_TIMEOUT:?}; logs:\n{}",
                        logs.join("\n---\n")
                    );
                }
            }
        }
        Some(members)
    }
}

/// Read a member's stderr line by line for its whole life: report readiness once, report
/// an exit (EOF) if it comes first, and keep every line for diagnostics.
fn spawn_reader(
    index: usize,
    stderr: std::process::ChildStderr,
    tx: mpsc::Sender<Event>,
    log: Arc<Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        let mut reported = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !reported && line.contains(READY_LINE) {
                reported = true;
                let _ = tx.send(Event::Ready(index));
            }
            if let Ok(mut l) = log.lock() {
                l.push(line);
            }
        }
        if !reported {
            let _ = tx.send(Event::Exited(index));
        }
    });
}

fn start_members(size: usize, tls: Option<TlsFiles>, extra: &[&str]) -> Vec<Member> {
    for _ in 0..START_ATTEMPTS {
        if let Some(members) = Plan::new(size, tls.clone(), extra).start() {
            return members;
        }
    }
    panic!("etcd failed to start {START_ATTEMPTS} times (ports taken?)");
}

/// Run `etcdctl` against `endpoints` with a clean environment (API v3).
fn run_etcdctl(
    endpoints: &[String],
    tls: Option<&TlsFiles>,
    user: Option<&str>,
    args: &[&str],
) -> Output {
    etcdctl_command(endpoints, tls, user, args)
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/etcdctl")
}

/// Like [`run_etcdctl`], with `input` on stdin: `etcdctl put KEY` reads the value from
/// stdin when none is given, which keeps arbitrary bytes (trailing newlines, a leading
/// `-`) exactly as they are.
fn run_etcdctl_input(
    endpoints: &[String],
    tls: Option<&TlsFiles>,
    user: Option<&str>,
    args: &[&str],
    input: &[u8],
) -> Output {
    use std::io::Write;
    let mut child = etcdctl_command(endpoints, tls, user, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /usr/bin/etcdctl");
    // Dropping stdin after the write closes it, so etcdctl sees the end of the value.
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write etcdctl stdin");
    child.wait_with_output().expect("wait for etcdctl")
}

fn etcdctl_command(
    endpoints: &[String],
    tls: Option<&TlsFiles>,
    user: Option<&str>,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new(ETCDCTL);
    cmd.env_clear()
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .arg("--dial-timeout=5s")
        .arg("--command-timeout=20s");
    if let Some(tls) = tls {
        cmd.arg(format!("--cacert={}", tls.ca_cert.display()))
            .arg(format!("--cert={}", tls.client_cert.display()))
            .arg(format!("--key={}", tls.client_key.display()));
    }
    if let Some(user) = user {
        cmd.arg(format!("--user={user}"));
    }
    cmd.args(args);
    cmd
}

fn expect_success(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Create `root` with `root_password` and enable authentication.
fn enable_auth_on(endpoints: &[String], tls: Option<&TlsFiles>, root_password: &str) {
    let pw = format!("--new-user-password={root_password}");
    expect_success(
        run_etcdctl(
            endpoints,
            tls,
            None,
            &["user", "add", "root", &pw, "--interactive=false"],
        ),
        "etcdctl user add root",
    );
    expect_success(
        run_etcdctl(endpoints, tls, None, &["auth", "enable"]),
        "etcdctl auth enable",
    );
}

/// A single-member etcd.
pub struct EtcdServer {
    member: Member,
    tls: Option<TlsFiles>,
    root_password: Option<String>,
}

impl EtcdServer {
    /// A plain-http member.
    pub fn start() -> EtcdServer {
        EtcdServer::start_with_flags(&[])
    }

    /// A plain-http member started with more `etcd` flags (e.g. `--max-txn-ops=8`).
    pub fn start_with_flags(flags: &[&str]) -> EtcdServer {
        let member = start_members(1, None, flags).pop().expect("one member");
        EtcdServer {
            member,
            tls: None,
            root_password: None,
        }
    }

    /// A https member that requires client certificates signed by `tls`'s CA.
    pub fn start_tls(tls: &TlsMaterial) -> EtcdServer {
        let files = TlsFiles {
            ca_cert: tls.ca_cert.clone(),
            server_cert: tls.server_cert.clone(),
            server_key: tls.server_key.clone(),
            client_cert: tls.client_cert.clone(),
            client_key: tls.client_key.clone(),
        };
        let member = start_members(1, Some(files.clone()), &[])
            .pop()
            .expect("one member");
        EtcdServer {
            member,
            tls: Some(files),
            root_password: None,
        }
    }

    /// The client URL (`http://127.0.0.1:PORT` or `https://...`).
    pub fn endpoint(&self) -> String {
        self.member.client_url.clone()
    }

    /// Add user `root` and enable auth; later [`EtcdServer::etcdctl`] calls log in as root.
    pub fn enable_auth(&mut self, root_password: &str) {
        enable_auth_on(&[self.endpoint()], self.tls.as_ref(), root_password);
        self.root_password = Some(root_password.to_owned());
    }

    /// Run `etcdctl` against this member (with its TLS files and root login if set); panics
    /// unless it succeeds. An independent client for checking what the code under test did.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let login = self.root_password.as_ref().map(|p| format!("root:{p}"));
        expect_success(
            run_etcdctl(
                &[self.endpoint()],
                self.tls.as_ref(),
                login.as_deref(),
                args,
            ),
            &format!("etcdctl {}", args.join(" ")),
        )
    }

    /// Store `value` at `key` byte for byte (through `etcdctl put`, value on stdin); panics
    /// unless it succeeds. For seeding the server independently of the code under test.
    pub fn put(&self, key: &str, value: &[u8]) {
        let login = self.root_password.as_ref().map(|p| format!("root:{p}"));
        expect_success(
            run_etcdctl_input(
                &[self.endpoint()],
                self.tls.as_ref(),
                login.as_deref(),
                &["put", key],
                value,
            ),
            &format!("etcdctl put {key}"),
        );
    }

    /// The member's log so far (for assertion messages).
    pub fn log(&self) -> String {
        self.member
            .log
            .lock()
            .map(|l| l.join("\n"))
            .unwrap_or_default()
    }
}

/// A multi-member etcd cluster on loopback (plain http).
pub struct EtcdCluster {
    members: Vec<Member>,
    endpoints: Vec<String>,
}

impl EtcdCluster {
    pub fn start(size: usize) -> EtcdCluster {
        let members = start_members(size, None, &[]);
        let endpoints = members.iter().map(|m| m.client_url.clone()).collect();
        EtcdCluster { members, endpoints }
    }

    /// Every member's client URL, stopped members included.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.clone()
    }

    /// Kill member `i` (SIGKILL, like a crashed node) and reap it.
    pub fn stop_member(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// The index of the current raft leader among the running members, as the members
    /// themselves report it (`etcdctl endpoint status`).
    pub fn leader_index(&self, running: &[usize]) -> usize {
        let out = self.etcdctl(running, &["endpoint", "status", "-w", "json"]);
        let statuses: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("endpoint status JSON");
        let statuses = statuses.as_array().expect("a JSON array of statuses");
        let status_of = |s: &serde_json::Value| -> (String, u64, u64) {
            let endpoint = s["Endpoint"].as_str().expect("Endpoint").to_owned();
            let member = s["Status"]["header"]["member_id"]
                .as_u64()
                .expect("member_id");
            let leader = s["Status"]["leader"].as_u64().expect("leader");
            (endpoint, member, leader)
        };
        let (_, _, leader) = status_of(&statuses[0]);
        let leader_endpoint = statuses
            .iter()
            .map(status_of)
            .find(|(_, member, _)| *member == leader)
            .map(|(endpoint, _, _)| endpoint)
            .expect("the leader is among the running members");
        self.endpoints
            .iter()
            .position(|e| *e == leader_endpoint)
            .expect("leader endpoint is a member")
    }

    /// Add user `root` and enable auth on the cluster.
    pub fn enable_auth(&self, root_password: &str) {
        enable_auth_on(&self.endpoints, None, root_password);
    }

    /// Store `value` at `key` byte for byte through the given members; panics unless it
    /// succeeds.
    pub fn put(&self, members: &[usize], key: &str, value: &[u8]) {
        let eps: Vec<String> = members.iter().map(|&i| self.endpoints[i].clone()).collect();
        expect_success(
            run_etcdctl_input(&eps, None, None, &["put", key], value),
            &format!("etcdctl put {key}"),
        );
    }

    /// Run `etcdctl` against the given members; panics unless it succeeds.
    pub fn etcdctl(&self, members: &[usize], args: &[&str]) -> Output {
        let eps: Vec<String> = members.iter().map(|&i| self.endpoints[i].clone()).collect();
        expect_success(
            run_etcdctl(&eps, None, None, args),
            &format!("etcdctl {}", args.join(" ")),
        )
    }
}

/// Every key-value of an etcd as `etcdctl get "" --prefix -w json` prints it: key ->
/// (value, mod revision), and the header revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub kvs: std::collections::BTreeMap<String, (Vec<u8>, i64)>,
    pub revision: i64,
}

impl Dump {
    /// The whole keyspace of `server`.
    pub fn of(server: &EtcdServer) -> Dump {
        Dump::parse(server.etcdctl(&["get", "", "--prefix", "-w", "json"]))
    }

    /// Reads what `etcdctl get ... -w json` printed.
    pub fn parse(out: Output) -> Dump {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut kvs = std::collections::BTreeMap::new();
        for kv in json["kvs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let key = b64.decode(kv["key"].as_str().unwrap()).unwrap();
            // etcdctl leaves out an empty value.
            let value = b64.decode(kv["value"].as_str().unwrap_or("")).unwrap();
            kvs.insert(
                String::from_utf8(key).unwrap(),
                (value, kv["mod_revision"].as_i64().unwrap()),
            );
        }
        Dump {
            kvs,
            revision: json["header"]["revision"].as_i64().unwrap(),
        }
    }

    /// A key's value and mod revision; fails naming the key when it is missing.
    pub fn get(&self, key: &str) -> &(Vec<u8>, i64) {
        self.kvs
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from etcd"))
    }

    /// A key's value; fails naming the key when it is missing.
    pub fn value(&self, key: &str) -> &[u8] {
        &self.get(key).0
    }

    /// Every key's value, without revisions.
    pub fn values(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.kvs
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}
