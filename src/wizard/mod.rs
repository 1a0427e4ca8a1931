//! The interactive migration wizard (contract: `dh-migrate wizard`): asks which new host
//! each old host becomes, showing the evidence and a preview of each answer, checks the
//! coverage, and produces the very mapping file `plan` and `apply` read. The conversation
//! goes through the `Ask` seam; nothing here writes files.

pub mod answers;
pub mod ask;
pub mod preview;
mod session;

pub use session::{check_host, parse_roles, run, Finish, Inputs};
