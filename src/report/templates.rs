//! The template environment: the built-in templates (embedded from
//! `templates/`), overridable by name from `--template-dir`, and users' own
//! templates for `--format template:PATH`.
//!
//! Settings every template gets: no auto-escaping (escape with the filters
//! below, or minijinja's `escape` for HTML), `trim_blocks` and
//! `lstrip_blocks` on, the trailing newline kept, and undefined values
//! *semi-strict*: printing or iterating a name the context does not have is
//! an error naming the template and line (a typo never renders as nothing),
//! while `{% if x is defined %}` and `{% if x %}` still work.
//!
//! Filters added to minijinja's built-ins:
//!
//! | filter | does |
//! |---|---|
//! | `xml` | escapes `& < > " '` for XML and HTML |
//! | `md` | one line, Markdown-escaped for a table cell or inline text |
//! | `oneline(max)` | collapses whitespace; with `max`, cuts to `max` characters ending in `…` |
//! | `gh_data` | escapes a GitHub workflow-command message (`%`, CR, LF) |
//! | `gh_property` | escapes a GitHub workflow-command property (also `:` and `,`) |

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::github::{escape_data, escape_property};
use super::view::one_line;
use crate::error::{Error, Result};

/// The built-in templates, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("markdown.md.j2", include_str!("../../templates/markdown.md.j2")),
    ("github-annotations.txt.j2", include_str!("../../templates/github-annotations.txt.j2")),
    ("github-summary.md.j2", include_str!("../../templates/github-summary.md.j2")),
];

/// Templates ready to render.
pub struct Templates {
    env: Environment<'static>,
    /// Display name of each template added from a file, by template name.
    files: BTreeMap<String, PathBuf>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each overridden by a file of the same name in
    /// `dir` when there is one. Files in `dir` are also what `include` and
    /// `import` find first.
    pub fn new(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(d) => Some(check_dir(d)?),
            None => None,
        };
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("static syntax config"),
        );
        env.add_filter("xml", |v: Value| xml_escape(&text(&v)));
        env.add_filter("md", |v: Value| md_escape(&text(&v)));
        env.add_filter("oneline", |v: Value, max: Option<usize>| oneline(&text(&v), max));
        env.add_filter("gh_data", |v: Value| escape_data(&text(&v)));
        env.add_filter("gh_property", |v: Value| escape_property(&text(&v)));
        let loader_dir = dir.clone();
        env.set_loader(move |name| {
            if !is_plain_relative(name) {
                return Ok(None);
            }
            if let Some(dir) = &loader_dir {
                let path = dir.join(name);
                if path.is_file() {
                    return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                        minijinja::Error::new(ErrorKind::InvalidOperation, format!("cannot read {}", path.display()))
                            .with_source(e)
                    });
                }
            }
            Ok(BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, text)| (*text).to_owned()))
        });
        let mut files = BTreeMap::new();
        if let Some(dir) = &dir {
            for (name, _) in BUILTIN {
                let path = dir.join(name);
                if path.is_file() {
                    files.insert((*name).to_owned(), path);
                }
            }
            warn_about_strays(dir);
        }
        Ok(Templates { env, files })
    }

    /// Add a user's template file; returns the name to render it by.
    pub fn add_file(&mut self, path: &Path) -> Result<String> {
        let source = std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e))?;
        let name = format!("template:{}", path.display());
        self.env.add_template_owned(name.clone(), source).map_err(|e| template_error(&name, Some(path), e))?;
        self.files.insert(name.clone(), path.to_owned());
        Ok(name)
    }

    /// Compile `name` now, so that a syntax error is reported before any
    /// results are read.
    pub fn check(&self, name: &str) -> Result<()> {
        self.env
            .get_template(name)
            .map(|_| ())
            .map_err(|e| template_error(name, self.files.get(name).map(PathBuf::as_path), e))
    }

    /// Render `name` against `ctx` into `out`.
    pub fn render_to(&self, name: &str, ctx: Value, out: &mut dyn Write) -> Result<()> {
        let path = self.files.get(name).map(PathBuf::as_path);
        let template = self.env.get_template(name).map_err(|e| template_error(name, path, e))?;
        template.render_captured_to(ctx, out).map(|_| ()).map_err(|e| template_error(name, path, e))
    }

    /// Render `name` against `ctx` to a string.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String> {
        let mut out = Vec::new();
        self.render_to(name, ctx, &mut out)?;
        String::from_utf8(out).map_err(|_| Error::input(format!("template {name} produced invalid UTF-8")))
    }
}

fn check_dir(dir: &Path) -> Result<PathBuf> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(dir.to_owned()),
        Ok(_) => Err(Error::input(format!("--template-dir {}: not a directory", dir.display()))),
        Err(e) => Err(Error::read_file(dir, e).context("--template-dir")),
    }
}

/// A template directory is for overrides: a `*.j2` file there that matches
/// no built-in name is most likely a misspelt override.
fn warn_about_strays(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".j2") && !BUILTIN.iter().any(|(n, _)| *n == name) {
            let known: Vec<_> = BUILTIN.iter().map(|(n, _)| *n).collect();
            tracing::warn!(
                "{} overrides no built-in template (those are {}); it is used only where a template includes it",
                entry.path().display(),
                known.join(", ")
            );
        }
    }
}

/// Only plain relative names are looked up: no `..`, no absolute paths.
fn is_plain_relative(name: &str) -> bool {
    !name.is_empty() && Path::new(name).components().all(|c| matches!(c, Component::Normal(_)))
}

fn template_error(name: &str, path: Option<&Path>, e: minijinja::Error) -> Error {
    let which = match path {
        Some(p) if !name.ends_with(&p.display().to_string()) => format!("template {name} ({})", p.display()),
        _ => format!("template {name}"),
    };
    let mut message = format!("{which}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::input(message)
}

/// A value as text: strings as they are, none/undefined as empty.
fn text(v: &Value) -> String {
    if v.is_none() || v.is_undefined() {
        String::new()
    } else if let Some(s) = v.as_str() {
        s.to_owned()
    } else {
        v.to_string()
    }
}

/// Escape `& < > " '` for XML and HTML.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of Markdown-safe text: whitespace collapsed, and the characters
/// that start emphasis, code, links, HTML or table cells escaped.
pub fn md_escape(s: &str) -> String {
    let line = one_line(s);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if "\\`*_[]<>|~#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whitespace collapsed; with `max`, at most `max` characters, the last `…`.
pub fn oneline(s: &str, max: Option<usize>) -> String {
    let line = one_line(s);
    match max {
        Some(max) if line.chars().count() > max => {
            let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape() {
        assert_eq!(xml_escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
        assert_eq!(md_escape("a | b\n*c* `d` <e>"), r"a \| b \*c\* \`d\` \<e\>");
        assert_eq!(oneline("a\n  b   c", Some(4)), "a b…");
        assert_eq!(oneline("a\n  b", None), "a b");
    }

    #[test]
    fn loader_refuses_paths_outside_the_directory() {
        assert!(is_plain_relative("markdown.md.j2"));
        assert!(is_plain_relative("parts/x.j2"));
        assert!(!is_plain_relative("../x.j2"));
        assert!(!is_plain_relative("/etc/passwd"));
    }

    #[test]
    fn undefined_names_are_errors_naming_the_template() {
        let mut t = Templates::new(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.j2");
        std::fs::write(&path, "{{ totals.controls }} {{ totls }}\n").unwrap();
        let name = t.add_file(&path).unwrap();
        let ctx = minijinja::context! { totals => minijinja::context! { controls => 3 } };
        let err = t.render(&name, ctx).unwrap_err();
        assert!(err.to_string().contains("t.j2"), "{err}");
        assert!(err.to_string().contains("undefined"), "{err}");
    }
}
