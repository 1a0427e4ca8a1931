//! The report as Markdown (placeholder until the renderer lands: the text rendering).

use super::ReportDoc;

pub fn render(doc: &ReportDoc) -> String {
    super::text::render(doc)
}
