//! The report formats, the files they write, and writing them.
//!
//! | `--format` | file(s) in `--out-dir` |
//! |---|---|
//! | `junit` | `kscan-junit.xml` |
//! | `sarif` | `kscan.sarif` |
//! | `markdown` | `kscan-summary.md` |
//! | `github` | `kscan-github-annotations.txt`, `kscan-github-summary.md` |
//! | `codequality` | `kscan-codequality.json` |
//! | `context` | `kscan-context.json` (the template context, for template authors) |
//! | `template:PATH` | PATH's file name without a `.j2`, `.jinja` or `.jinja2` suffix |
//!
//! Every file is written to a temporary name in the output directory and
//! renamed into place, so a failed run never leaves a half-written report.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{codequality, context, github, junit, markdown, sarif, Report, Templates};
use crate::error::{Error, Result};

/// One report format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// JUnit XML.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// Markdown summary.
    Markdown,
    /// GitHub annotations and step summary.
    Github,
    /// GitLab Code Quality JSON.
    CodeQuality,
    /// The template context as JSON.
    Context,
    /// A user's template.
    Template(PathBuf),
}

/// The names `--format` takes, for messages.
pub const NAMES: &str = "junit, sarif, markdown, github, codequality, context, template:PATH";

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.trim() {
            "junit" => Format::Junit,
            "sarif" => Format::Sarif,
            "markdown" | "md" => Format::Markdown,
            "github" => Format::Github,
            "codequality" | "code-quality" | "gitlab" => Format::CodeQuality,
            "context" => Format::Context,
            other => match other.strip_prefix("template:") {
                Some("") => return Err("template: needs a path, e.g. template:report.html.j2".into()),
                Some(path) => Format::Template(PathBuf::from(path)),
                None => return Err(format!("unknown report format {other:?} (known: {NAMES})")),
            },
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Junit => f.write_str("junit"),
            Format::Sarif => f.write_str("sarif"),
            Format::Markdown => f.write_str("markdown"),
            Format::Github => f.write_str("github"),
            Format::CodeQuality => f.write_str("codequality"),
            Format::Context => f.write_str("context"),
            Format::Template(p) => write!(f, "template:{}", p.display()),
        }
    }
}

impl Format {
    /// The files this format writes, by name.
    pub fn file_names(&self) -> Vec<String> {
        let fixed: &[&str] = match self {
            Format::Junit => &["kscan-junit.xml"],
            Format::Sarif => &["kscan.sarif"],
            Format::Markdown => &["kscan-summary.md"],
            Format::Github => &["kscan-github-annotations.txt", "kscan-github-summary.md"],
            Format::CodeQuality => &["kscan-codequality.json"],
            Format::Context => &["kscan-context.json"],
            Format::Template(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let stem = [".j2", ".jinja2", ".jinja"]
                    .iter()
                    .find_map(|ext| name.strip_suffix(ext))
                    .filter(|s| !s.is_empty())
                    .unwrap_or(&name);
                return vec![stem.to_owned()];
            }
        };
        fixed.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// A file that was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The format that wrote it.
    pub format: String,
    /// Where.
    pub path: PathBuf,
}

/// Formats checked and ready to write: no duplicates, no two writing the same
/// file, every template found and compiled.
#[derive(Debug)]
pub struct Plan {
    jobs: Vec<(Format, Option<String>)>,
}

impl Plan {
    /// Check `formats` and load the user templates they name into `templates`.
    pub fn new(formats: &[Format], templates: &mut Templates) -> Result<Self> {
        if formats.is_empty() {
            return Err(Error::input(format!(
                "no report format given: pass --format with one or more of {NAMES}, or --ci PLATFORM"
            )));
        }
        let mut jobs: Vec<(Format, Option<String>)> = Vec::new();
        let mut files: Vec<(String, String)> = Vec::new();
        for format in formats {
            if jobs.iter().any(|(f, _)| f == format) {
                return Err(Error::input(format!("--format {format} is given twice")));
            }
            for file in format.file_names() {
                if file.is_empty() {
                    return Err(Error::input(format!("--format {format}: the path has no file name")));
                }
                if let Some((other, _)) = files.iter().find(|(_, f)| *f == file) {
                    return Err(Error::input(format!(
                        "--format {format} would write {file}, which --format {other} writes too: rename the template"
                    )));
                }
                files.push((format.to_string(), file));
            }
            let template = match format {
                Format::Template(path) => Some(templates.add_file(path)?),
                Format::Markdown => Some(markdown::TEMPLATE.to_owned()),
                _ => None,
            };
            if let Some(name) = &template {
                templates.check(name)?;
            }
            if *format == Format::Github {
                templates.check(github::ANNOTATIONS_TEMPLATE)?;
                templates.check(github::SUMMARY_TEMPLATE)?;
            }
            jobs.push((format.clone(), template));
        }
        Ok(Plan { jobs })
    }

    /// Write every format into `out_dir` (created if missing).
    pub fn write(&self, report: &Report, templates: &Templates, out_dir: &Path) -> Result<Vec<Written>> {
        std::fs::create_dir_all(out_dir).map_err(|e| {
            Error::input(format!("cannot create the output directory {}", out_dir.display())).with_source(e)
        })?;
        let mut written = Vec::new();
        for (format, template) in &self.jobs {
            let names = format.file_names();
            let mut paths = names.iter().map(|n| out_dir.join(n));
            let mut next = || paths.next().expect("one path per file name");
            match format {
                Format::Junit => write_file(&next(), |w| junit::write(report, w))?,
                Format::Sarif => write_file(&next(), |w| sarif::write(report, w))?,
                Format::CodeQuality => write_file(&next(), |w| codequality::write(report, w))?,
                Format::Markdown => write_file(&next(), |w| markdown::write(report, templates, w))?,
                Format::Github => {
                    write_file(&next(), |w| github::write_annotations(report, templates, w))?;
                    write_file(&next(), |w| github::write_summary(report, templates, w))?;
                }
                Format::Context => write_file(&next(), |w| {
                    serde_json::to_writer_pretty(&mut *w, &context::value(report))
                        .map_err(|e| Error::input(format!("cannot encode the template context: {e}")))
                })?,
                Format::Template(_) => write_file(&next(), |w| {
                    templates.render_to(template.as_deref().expect("template loaded"), context::value(report), w)
                })?,
            }
            written.extend(names.iter().map(|n| Written { format: format.to_string(), path: out_dir.join(n) }));
        }
        Ok(written)
    }
}

/// Write through a temporary file in the same directory, renamed into place.
fn write_file(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let cannot = |e: std::io::Error| Error::input(format!("cannot write {}", path.display())).with_source(e);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kscan-");
    // Reports are for everyone to read (tempfile's default is 0600).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(cannot)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        body(&mut w).map_err(|e| e.context(format!("writing {}", path.display())))?;
        w.flush().map_err(cannot)?;
    }
    tmp.persist(path).map_err(|e| cannot(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_named() {
        assert_eq!("junit".parse::<Format>().unwrap(), Format::Junit);
        assert_eq!("template:a/b.html.j2".parse::<Format>().unwrap(), Format::Template("a/b.html.j2".into()));
        let err = "sarf".parse::<Format>().unwrap_err();
        assert!(err.contains("\"sarf\"") && err.contains("sarif"), "{err}");
        assert!("template:".parse::<Format>().is_err());
    }

    #[test]
    fn template_outputs_drop_the_template_suffix() {
        assert_eq!(Format::Template("x/report.html.j2".into()).file_names(), ["report.html"]);
        assert_eq!(Format::Template("notes.txt".into()).file_names(), ["notes.txt"]);
    }

    #[test]
    fn duplicates_and_clashing_files_are_refused() {
        let mut t = Templates::new(None).unwrap();
        let err = Plan::new(&[Format::Junit, Format::Junit], &mut t).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let clash = dir.path().join("kscan.sarif.j2");
        std::fs::write(&clash, "x").unwrap();
        let err = Plan::new(&[Format::Sarif, Format::Template(clash)], &mut t).unwrap_err();
        assert!(err.to_string().contains("kscan.sarif"), "{err}");
    }
}
