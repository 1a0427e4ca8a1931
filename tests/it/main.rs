//! The one integration test binary: every module below is a former test binary, sharing
//! `support` (real etcd servers and clusters, file-system helpers).

mod apply_etcd;
mod bundle;
mod cli_inspect;
mod cli_plan;
mod cli_restart_suggest;
mod etcd_client;
mod golden;
mod layout_detect;
mod props_corpus;
mod report_cli;
mod scanner;
mod snapshot_reader;
mod snapshot_target;
mod support;
mod wizard_pty;
mod xml_corpus;
mod yaml_corpus;
