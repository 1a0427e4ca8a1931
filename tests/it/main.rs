//! The one integration test binary: every module below is a former test binary, sharing
//! `support` (real etcd servers and clusters, file-system helpers).

mod apply_etcd;
mod apply_v2;
mod backup;
mod bundle;
mod cli_edge;
mod cli_inspect;
mod cli_plan;
mod cli_restart_suggest;
mod cli_snapshots;
mod core_inprocess;
mod etcd_client;
mod golden;
mod hostile;
mod layout_detect;
mod merge_cli;
mod merge_golden;
mod parser_limits;
mod props_corpus;
mod report_cli;
mod report_golden;
mod report_owners;
mod scanner;
mod secret_corpus;
mod snapshot_reader;
mod snapshot_source;
mod snapshot_target;
mod support;
mod wizard_pty;
mod xml_corpus;
mod yaml_corpus;
