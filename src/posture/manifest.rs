//! Read manifests: files, directories (recursively: `*.yaml`, `*.yml`,
//! `*.json`) and standard input (`-`); multi-document YAML and JSON.
//!
//! Files are read line by line and each document is parsed as soon as its
//! separator (`---`) arrives, so memory holds one document at a time, and
//! every object knows the line its document starts on (for SARIF locations).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::scan::Origin;
use super::spec::RawObject;
use super::workload::{extract, Workload};
use crate::error::{Error, Result};

/// Totals of one read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadTotals {
    /// Files read.
    pub files: usize,
    /// Objects that carry no pod spec.
    pub ignored: usize,
}

/// Expand `paths` (files, directories, `-`) into the files to read, in a
/// stable order. A path that does not exist is an input error.
pub fn expand(paths: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(p.clone());
            continue;
        }
        let path = Path::new(p);
        let meta = std::fs::metadata(path).map_err(|e| Error::read_file(path, e).context("--manifests"))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(Error::input(format!(
                    "--manifests: directory {} holds no *.yaml, *.yml or *.json file",
                    path.display()
                )));
            }
            found.sort();
            out.extend(found.into_iter().map(|p| p.display().to_string()));
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read_file(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::read_file(dir, e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Read every object of `files` and pass each pod spec to `f`.
pub fn read_all(files: &[String], f: &mut impl FnMut(Workload, &Origin)) -> Result<ReadTotals> {
    let mut totals = ReadTotals::default();
    let mut path: Arc<str> = Arc::from("");
    for_each_document(files, &mut |name, line, doc| {
        let obj = parse_object(name, line, doc)?;
        if *path != *name {
            path = Arc::from(name);
        }
        let origin = Origin::File { path: path.clone(), line };
        totals.ignored += extract(obj, &mut |w| f(w, &origin));
        Ok(())
    })?;
    totals.files = files.len();
    Ok(totals)
}

/// Pass every document of `files` (`-` is standard input) to `f`, with the
/// file as given and the line the document starts on.
pub fn for_each_document(files: &[String], f: &mut impl FnMut(&str, u64, &str) -> Result<()>) -> Result<()> {
    for file in files {
        let reader: Box<dyn Read> = if file == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(file).map_err(|e| Error::read_file(Path::new(file), e))?)
        };
        documents(file, BufReader::with_capacity(1 << 16, reader), &mut |line, doc| f(file, line, doc))?;
    }
    Ok(())
}

/// Read the documents of one stream; returns how many objects carried no pod spec.
pub fn read_stream(name: &str, reader: impl BufRead, f: &mut impl FnMut(Workload, &Origin)) -> Result<usize> {
    let mut ignored = 0;
    let path: Arc<str> = Arc::from(name);
    documents(name, reader, &mut |line, doc| {
        let obj = parse_object(name, line, doc)?;
        let origin = Origin::File { path: path.clone(), line };
        ignored += extract(obj, &mut |w| f(w, &origin));
        Ok(())
    })?;
    Ok(ignored)
}

/// Split one stream into its documents, passing each to `f` with the line
/// it starts on, as soon as its separator (`---`, `...`) or the end arrives.
fn documents(name: &str, mut reader: impl BufRead, f: &mut impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    let mut doc = String::new();
    let mut doc_line = 0u64; // first line with content in `doc`, 0 while none
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| Error::read_file(Path::new(name), e))?;
        number += 1;
        let end = n == 0;
        let separator = !end && (is_marker(&line, "---") || is_marker(&line, "..."));
        if end || separator {
            if doc_line != 0 {
                f(doc_line, &doc)?;
            }
            doc.clear();
            doc_line = 0;
            if end {
                return Ok(());
            }
            // `--- {json}` or `--- kind: x` keeps content on the marker line.
            let rest = line[3..].trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                doc.push_str(&line[3..]);
                doc_line = number;
            }
            continue;
        }
        if doc_line == 0 {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || (doc.is_empty() && t.starts_with('%')) {
                continue;
            }
            doc_line = number;
        }
        doc.push_str(&line);
    }
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// The object in document `doc` of file `name`, which starts on `line`:
/// JSON or YAML; a document that is neither is an input error naming both.
pub fn parse_object(name: &str, line: u64, doc: &str) -> Result<RawObject> {
    let parsed: std::result::Result<RawObject, String> = if doc.trim_start().starts_with(['{', '[']) {
        serde_json::from_str(doc).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str(doc).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Error::input(format!(
            "{name}: the document starting at line {line} is not a valid Kubernetes object: {e} \
             (lines in the message count from the start of that document); fix or remove it"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Vec<(String, u64)>, usize)> {
        let mut got = Vec::new();
        let ignored = read_stream("m.yaml", text.as_bytes(), &mut |w, o| {
            let Origin::File { line, .. } = o else { unreachable!() };
            got.push((w.path(), *line));
        })?;
        Ok((got, ignored))
    }

    #[test]
    fn documents_lines_json_and_lists() {
        let text = "# leading comment\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n\n---\n# c\nkind: Service\n\
                    metadata: {name: s}\n--- {\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}\n...\n\
                    kind: List\nitems:\n- kind: Job\n  metadata: {name: j}\n  spec: {template: {spec: {containers: []}}}\n";
        let (got, ignored) = read(text).unwrap();
        assert_eq!(got, [("-/Pod/a".to_owned(), 3), ("n/Pod/b".to_owned(), 12), ("-/Job/j".to_owned(), 14)]);
        assert_eq!(ignored, 1);
    }

    #[test]
    fn a_bad_document_names_the_file_and_line() {
        let err = read("kind: Pod\n---\nkind: Pod\nspec:\n  hostNetwork: [1]\n").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with("m.yaml: the document starting at line 3"), "{err}");
    }

    #[test]
    fn missing_paths_are_input_errors() {
        let err = expand(&["/nonexistent/x.yaml".to_owned()]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("/nonexistent/x.yaml"), "{err}");
    }
}
