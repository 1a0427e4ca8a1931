//! `dh-migrate backup`: `backup_deephaven`'s options (same short and long names, so a
//! cron line ports by changing the program name), resolved into `backup::Options`; the
//! switch to the `-u` account; and the output (the bundle's path as the last stdout line,
//! or one JSON document).

use super::args::EtcdArgs;
use super::Ctx;
use crate::backup::{BundleFormat, MysqlSource, Options, Parts};
use crate::error::{CliError, ErrorKind};
use crate::ui::esc;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Take a backup (backup_deephaven's options): one new verified bundle
///
/// The bundle holds the etcd snapshot, the configuration items, this node's configuration
/// files, WorkspaceData and the MySQL ACLs as selected; it is written under a hidden name
/// and renamed only once complete and verified. The last line on stdout is its path.
#[derive(Debug, clap::Args)]
// The etcd flags' `--user` would clash with backup_deephaven's `-u/--user` (the account
// to run as): here the etcd user is `--etcd-user` (or ETCDCTL_USER).
#[command(mut_arg("user", |a| a.long("etcd-user")))]
pub struct BackupArgs {
    /// Folder the new bundle goes into (created when missing).
    #[arg(
        short = 'd',
        long,
        value_name = "DIR",
        default_value = "/etc/sysconfig/deephaven/backups/system"
    )]
    pub directory: PathBuf,
    /// Account to run as; from another account, dh-migrate re-runs itself through
    /// `sudo -n -u USER`.
    #[arg(
        short = 'u',
        long = "user",
        id = "run_as",
        value_name = "USER",
        default_value = "irisadmin"
    )]
    pub run_as: String,
    /// Everything but --retain.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// A snapshot of the whole etcd (maintenance API, SHA-256 trailer checked).
    #[arg(short = 'e', long = "etcd")]
    pub etcd_snapshot: bool,
    /// ACLs: the etcd ACL items, and the dbacl_iris MySQL/MariaDB dump when --mysql (or a
    /// --mysql-* option) says the ACLs live there.
    #[arg(short = 'A', long = "ACLs")]
    pub acls: bool,
    /// Persistent-query definitions.
    #[arg(short = 'p', long = "persistentQueries")]
    pub persistent_queries: bool,
    /// The DbInternal.WorkspaceData table's files (intraday and historical, under --db-root).
    #[arg(short = 'w', long = "workspaceData")]
    pub workspace_data: bool,
    /// Table schemas.
    #[arg(short = 's', long)]
    pub schema: bool,
    /// Property files, and this node's configuration files under /etc/sysconfig/deephaven
    /// and /etc/sysconfig/illumon.d.
    #[arg(short = 'P', long = "propertyFiles")]
    pub property_files: bool,
    /// The main routing file and the DIS configurations.
    #[arg(short = 'r', long)]
    pub routing: bool,
    /// After a successful backup, delete dh-migrate bundles in DIR older than DAYS days
    /// (by modification time); nothing else is ever deleted.
    #[arg(short = 'R', long, value_name = "DAYS")]
    pub retain: Option<u64>,
    /// Where / is for the configuration files.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub files_root: PathBuf,
    /// The database root holding Intraday, IntradayUser, Systems and Users.
    #[arg(long, value_name = "DIR", default_value = "/db")]
    pub db_root: PathBuf,
    /// A folder, or one zstd-compressed tar archive.
    #[arg(long, value_enum, default_value = "dir")]
    pub bundle_format: FormatArg,
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// The dump program.
    #[arg(long, value_name = "PATH", default_value = "mysqldump")]
    pub mysqldump: PathBuf,
    /// Seconds the etcd snapshot may take (the transfer of a large database).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub snapshot_timeout: u64,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Say what would be written (paths on stdout); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document (the summary, the bundle's path in `bundle`) instead of
    /// the path.
    #[arg(long)]
    pub json: bool,
    /// Progress and a summary on stderr (a successful backup is otherwise quiet).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Dir,
    #[value(name = "tar.zst")]
    TarZst,
}

impl BackupArgs {
    fn parts(&self) -> Parts {
        if self.all {
            return Parts::ALL;
        }
        Parts {
            etcd: self.etcd_snapshot,
            acls: self.acls,
            pqs: self.persistent_queries,
            workspace: self.workspace_data,
            schemas: self.schema,
            props: self.property_files,
            routing: self.routing,
        }
    }
}

/// Where the MySQL/MariaDB ACL database is (`backup -A` dumps it, `restore` imports it).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MysqlArgs {
    /// The ACLs live in MySQL/MariaDB (backup: with -A or -a, dump the dbacl_iris
    /// database; restore: import the bundle's dump).
    #[arg(long)]
    pub mysql: bool,
    /// MySQL/MariaDB socket (implies --mysql).
    #[arg(long, value_name = "PATH")]
    pub mysql_socket: Option<PathBuf>,
    /// MySQL/MariaDB option file holding the credentials (implies --mysql).
    #[arg(long, value_name = "FILE")]
    pub mysql_defaults_file: Option<PathBuf>,
    /// MySQL/MariaDB user (implies --mysql).
    #[arg(long, value_name = "USER")]
    pub mysql_user: Option<String>,
}

impl MysqlArgs {
    /// The source to run `program` against, when MySQL is wanted at all.
    pub fn source(&self, program: &std::path::Path) -> Option<MysqlSource> {
        let wanted = self.mysql
            || self.mysql_socket.is_some()
            || self.mysql_defaults_file.is_some()
            || self.mysql_user.is_some();
        wanted.then(|| MysqlSource {
            program: program.to_path_buf(),
            defaults_file: self.mysql_defaults_file.clone(),
            socket: self.mysql_socket.clone(),
            user: self.mysql_user.clone(),
        })
    }
}

pub fn run(args: BackupArgs, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let ui = &ctx.ui;
    let parts = args.parts();
    if !parts.any() {
        return Err(CliError::new(
            ErrorKind::Usage,
            "nothing to back up: give -a/--all or at least one of -e, -A, -p, -w, -s, -P, -r",
        ));
    }
    if let Some(code) = super::run_as::switch_user(&args.run_as, "backup")? {
        return Ok(code);
    }
    let layout = args.etcd.layout()?;
    let settings = if parts.needs_etcd() {
        let mut settings = args.etcd.settings(&ctx.env)?;
        // A large snapshot takes longer than one ordinary request.
        settings.request_timeout = settings
            .request_timeout
            .max(Duration::from_secs(args.snapshot_timeout.max(1)));
        Some(settings)
    } else {
        None
    };
    let opts = Options {
        dir: args.directory.clone(),
        parts,
        retain_days: args.retain,
        files_root: args.files_root.clone(),
        db_root: args.db_root.clone(),
        format: match args.bundle_format {
            FormatArg::Dir => BundleFormat::Dir,
            FormatArg::TarZst => BundleFormat::TarZst,
        },
        dry_run: args.dry_run,
        mysql: args.mysql.source(&args.mysqldump),
        layout,
        now: std::time::SystemTime::now(),
    };
    let verbose = args.verbose;
    let mut note = |line: &str| {
        if verbose {
            let _ = ui.status(&esc(line));
        }
    };
    let summary = crate::ops::backup(&opts, settings.as_ref(), &mut note)?;

    if args.json {
        let text = serde_json::to_string(&summary)
            .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
        ui.out(&format!("{text}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if verbose || summary.dry_run {
        for p in &summary.parts {
            let bytes = p.bytes.map_or("size known once taken".to_string(), |b| {
                format!("{b} bytes")
            });
            ui.status(&format!("  {:<20} {:>6} file(s)  {bytes}", p.part, p.files))?;
        }
        for s in &summary.skipped {
            ui.status(&format!(
                "  skipped {}: {}",
                esc(&s.path.display().to_string()),
                esc(&s.reason)
            ))?;
        }
    }
    let mut out = String::new();
    if summary.dry_run {
        for p in &summary.paths {
            out.push_str(&esc(p));
            out.push('\n');
        }
        for r in &summary.removed {
            ui.status(&format!(
                "dry run: retention would remove {} ({} days old)",
                esc(&r.path.display().to_string()),
                r.age_days
            ))?;
        }
        ui.status(&format!(
            "dry run: would write {} file(s) to {}; nothing was written",
            summary.files,
            esc(&summary.bundle.display().to_string())
        ))?;
        ui.out(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &summary.removed {
        out.push_str(&format!("removed {}\n", esc(&r.path.display().to_string())));
    }
    out.push_str(&format!("{}\n", esc(&summary.bundle.display().to_string())));
    ui.out(&out)?;
    Ok(ExitCode::SUCCESS)
}
