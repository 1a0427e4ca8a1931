//! The secret corpus: credentials planted in a copy of the fixture bundle, one of every kind
//! the classifier knows (README, "Secrets"), each next to a host reference so that the
//! diffs show its line. No planted value may appear in any output: `inspect` (text, json),
//! `plan` (diffs, saved plan), `report` (text, markdown, json, html). The emitted tree keeps
//! them, which proves they were read and migrated, not skipped.

use std::fs;
use std::path::Path;

use crate::support::cli::run as run_sealed;
use crate::support::fs::copy_dir;

/// (file, text appended to it, planted values).
const PLANTS: &[(&str, &str, &[&str])] = &[
    (
        "config/props/iris-environment.prop",
        "\n# planted secrets, each beside a reference to dh-infra-1.old.example.com\n\
         db.url=jdbc:mysql://dbuser:PLANT-JDBC-1@dh-infra-1.old.example.com:3306/x\n\
         mail.smtp.host=dh-infra-1.old.example.com\n\
         mail.smtp.pass=PLANT-SMTP-2\n\
         db.pwd=PLANT-PWD-3\n\
         kafka.bootstrap=dh-infra-1.old.example.com:9092\n\
         sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"PLANT-JAAS-4\";\n\
         db.password2 PLANT-SPACE-5\n\
         db.host=dh-infra-1.old.example.com\n",
        &[
            "PLANT-JDBC-1",
            "PLANT-SMTP-2",
            "PLANT-PWD-3",
            "PLANT-JAAS-4",
            "PLANT-SPACE-5",
        ],
    ),
    (
        "config/routing/dis/Ingester1.yaml",
        "credentials: {pass: PLANT-YAML-6, host: dh-query-1.old.example.com}\n\
         tokens:\n  - PLANT-LIST-7\n  - dh-query-1.old.example.com\n",
        &["PLANT-YAML-6", "PLANT-LIST-7"],
    ),
    (
        "files/etc/sysconfig/illumon.d/resources/tls-key.pem",
        "# served by dh-infra-1.old.example.com\n-----BEGIN PRIVATE KEY-----\nPLANT-PEM-8\n\
         -----END PRIVATE KEY-----\n",
        &["PLANT-PEM-8"],
    ),
    (
        "files/etc/sysconfig/illumon.d/resources/.pgpass",
        "dh-infra-1.old.example.com:5432:*:dh:PLANT-PGPASS-9\n",
        &["PLANT-PGPASS-9"],
    ),
];

const PQ: &str = "config/pq/MarketDashboard.xml";
const PQ_LINE: &str =
    "conn = connect(\"dh-infra-1.old.example.com\", user = \"dh\", password = \"PLANT-PQ-10\")\n";

fn planted() -> Vec<&'static str> {
    let mut all: Vec<&str> = PLANTS
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .collect();
    all.push("PLANT-PQ-10");
    all
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = run_sealed(dir, args);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn no_planted_secret_reaches_any_output() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    copy_dir(&fixtures.join("old-cluster"), &root.join("old"));
    fs::remove_file(root.join("old/MANIFEST.sha256")).unwrap();
    // The planted files are the configuration: no snapshot copy stands in for them.
    fs::remove_file(root.join("old/etcd/snapshot.db")).unwrap();
    for (file, text, _) in PLANTS {
        let path = root.join("old").join(file);
        let mut content = fs::read_to_string(&path).unwrap_or_default();
        content.push_str(text);
        fs::write(&path, content).unwrap();
    }
    let pq = root.join("old").join(PQ);
    let script = fs::read_to_string(&pq)
        .unwrap()
        .replace("]]></Script>", &format!("{PQ_LINE}]]></Script>"));
    fs::write(&pq, script).unwrap();
    let target = fixtures.join("new-cluster");
    let target = target.to_str().unwrap();
    let mapping = fixtures.join("mapping.yaml");
    let mapping = mapping.to_str().unwrap();

    let mut outputs: Vec<(String, String)> = Vec::new();
    for format in ["text", "json"] {
        let (code, text) = run(root, &["inspect", "old", "--format", format]);
        assert_eq!(code, Some(0), "{text}");
        outputs.push((format!("inspect {format}"), text));
    }
    let (code, text) = run(
        root,
        &[
            "plan",
            "old",
            "--target",
            target,
            "--mapping",
            mapping,
            "--emit",
            "emitted",
            "--out",
            "plan.json",
            "--color",
            "never",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    outputs.push(("plan".into(), text));
    outputs.push((
        "saved plan".into(),
        fs::read_to_string(root.join("plan.json")).unwrap(),
    ));
    for format in ["text", "markdown", "json", "html"] {
        let (code, text) = run(
            root,
            &[
                "report",
                "old",
                "--target",
                target,
                "--mapping",
                mapping,
                "--format",
                format,
            ],
        );
        assert_eq!(code, Some(1), "{text}");
        outputs.push((format!("report {format}"), text));
    }
    for (what, text) in &outputs {
        for secret in planted() {
            assert!(!text.contains(secret), "{what} shows {secret}");
        }
    }
    // Not vacuous: the plan's diff shows the planted lines, by fingerprint.
    let plan = &outputs[2].1;
    for key in [
        "mail.smtp.pass=<secret sha256:",
        "db.password2 <secret sha256:",
        "password=\"<secret sha256:",
    ] {
        assert!(plan.contains(key), "the plan diff lacks {key:?}");
    }
    // And the emitted tree keeps every value for the new cluster.
    let emitted =
        |rel: &str| fs::read_to_string(root.join("emitted").join(rel)).unwrap_or_default();
    assert!(emitted(PLANTS[0].0).contains("PLANT-JAAS-4"));
    assert!(emitted(PLANTS[1].0).contains("PLANT-LIST-7"));
    assert!(emitted(PQ).contains("PLANT-PQ-10"));
}
