//! The Markdown summary for PR comments and job summaries: the gate verdict,
//! a table per profile, and the most severe findings. Rendered from the
//! template `markdown.md.j2` (override it with `--template-dir`).

use std::io::Write;

use super::{context, Report, Templates};
use crate::error::Result;

/// Template of the summary.
pub const TEMPLATE: &str = "markdown.md.j2";

/// Write the Markdown summary of `report`.
pub fn write(report: &Report, templates: &Templates, out: &mut dyn Write) -> Result<()> {
    templates.render_to(TEMPLATE, context::value(report), out)
}
