//! The report as one self-contained HTML page (placeholder until the renderer lands).

use super::ReportDoc;

pub fn render(doc: &ReportDoc) -> String {
    super::text::render(doc)
}
