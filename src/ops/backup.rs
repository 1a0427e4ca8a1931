//! `backup`: connect to etcd when the selected parts need it, then take one backup
//! (`crate::backup::run`: lock, stream every part into a hidden folder, verify, rename,
//! retention).

use crate::backup::{self, BackupError, Options, Summary};
use crate::etcd::{EtcdSettings, RealEtcd};

/// Takes one backup. `etcd` is needed when `opts.parts` need etcd (snapshot or items);
/// `note` receives progress lines.
pub fn backup(
    opts: &Options,
    etcd: Option<&EtcdSettings>,
    note: &mut dyn FnMut(&str),
) -> Result<Summary, BackupError> {
    let mut connection = match (opts.parts.needs_etcd(), etcd) {
        (true, Some(settings)) => Some(RealEtcd::connect(settings)?),
        (true, None) => return Err(BackupError::NoEtcd),
        (false, _) => None,
    };
    let source = connection
        .as_mut()
        .map(|c| c as &mut dyn backup::EtcdSource);
    backup::run(opts, source, note)
}
