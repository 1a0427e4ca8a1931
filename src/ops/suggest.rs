//! `mapping suggest`: a ready-to-edit mapping file inferred by aligning the bundle with
//! the target, each pair with its evidence.

use super::Inputs;
use crate::mapping::suggest::{draft, suggest as align, Suggestion};
use crate::mapping::write::render;
use crate::scan::inventory::Inventory;

/// A suggested mapping file.
#[derive(Debug)]
pub struct Suggested {
    pub suggestions: Vec<Suggestion>,
    /// The mapping file's text.
    pub text: String,
    /// How many old names got no suggestion (TODO entries in the text).
    pub unanswered: usize,
}

pub fn suggest(inputs: &Inputs) -> Suggested {
    let inv = Inventory::build(&inputs.tree, &[]);
    let suggestions = align(&inputs.tree, &inputs.target.tree, &inv, &inputs.contexts);
    let unanswered = suggestions.iter().filter(|s| s.target.is_none()).count();
    let text = render(&draft(
        &suggestions,
        &inputs.bundle_label(),
        &inputs.target.label,
    ));
    Suggested {
        suggestions,
        text,
        unanswered,
    }
}
