//! Read manifests: files, directories (recursively: `*.yaml`, `*.yml`,
//! `*.json`) and standard input (`-`); multi-document YAML and JSON.
//!
//! Files are read in blocks and each document is parsed as soon as its
//! separator (`---`) has been read, straight from the block buffer, so
//! memory holds about one document and one block at a time, and every
//! object knows the line its document starts on (for SARIF locations).
//! JSON documents go through the direct reader of [`super::jsonread`]
//! (serde_json when it declines them), YAML documents through serde_yaml.
//! Runs of files can be read on threads of their own
//! ([`read_all_parallel`]), each with its own buffer.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jsonread;
use super::scan::Origin;
use super::spec::RawObject;
use super::workload::{extract, Workload};
use crate::error::{Error, Result};

/// Bytes read from a file at a time.
const BLOCK: usize = 1 << 16;

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

/// Read `files` on up to `threads` threads: the files are cut into
/// contiguous runs of about equal size, each run is read into a state of its
/// own (`make`, then `add` per pod spec), and the states come back in file
/// order, so concatenating them gives what one [`read_all`] would.
///
/// An error is the one the first failing file (in order) gives, as in
/// [`read_all`]. Standard input, one file or one thread read on the caller's
/// thread.
pub fn read_all_parallel<S: Send>(
    files: &[String],
    threads: usize,
    make: impl Fn() -> S + Sync,
    add: impl Fn(&mut S, Workload, &Origin) + Sync,
) -> Result<(Vec<S>, ReadTotals)> {
    let read_run = |run: &[String]| {
        let mut state = make();
        let totals = read_all(run, &mut |w, origin| add(&mut state, w, origin))?;
        Ok::<_, Error>((state, totals))
    };
    let runs = runs_of(files, threads);
    let parts: Vec<Result<(S, ReadTotals)>> = if runs.len() <= 1 {
        vec![read_run(files)]
    } else {
        std::thread::scope(|scope| {
            let read_run = &read_run;
            let handles: Vec<_> = runs.iter().map(|run| scope.spawn(move || read_run(run))).collect();
            // A panic in a reader is a bug: pass it on as the panic it is.
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    };
    let mut states = Vec::with_capacity(parts.len());
    let mut totals = ReadTotals::default();
    for part in parts {
        let (state, t) = part?;
        states.push(state);
        totals.files += t.files;
        totals.ignored += t.ignored;
    }
    Ok((states, totals))
}

/// `files` cut into at most `threads` contiguous runs of about equal bytes
/// (one run when standard input is among them or sizes are unknown).
fn runs_of(files: &[String], threads: usize) -> Vec<&[String]> {
    let size = |f: &String| if f == "-" { None } else { std::fs::metadata(f).ok().map(|m| m.len()) };
    let sizes: Option<Vec<u64>> = files.iter().map(size).collect();
    let Some(sizes) = sizes.filter(|_| threads > 1 && files.len() > 1) else {
        return vec![files];
    };
    let total: u64 = sizes.iter().sum::<u64>().max(1);
    let mut runs = Vec::new();
    let (mut start, mut read) = (0usize, 0u64);
    for (i, size) in sizes.iter().enumerate() {
        read += size;
        // Cut where the bytes so far reach the next share of the total.
        let share = total * (runs.len() as u64 + 1) / threads as u64;
        if read >= share && runs.len() + 1 < threads && i + 1 < files.len() {
            runs.push(&files[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&files[start..]);
    runs
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
        documents(file, reader, &mut |line, doc| f(file, line, doc))?;
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
///
/// The stream is read in blocks straight into one buffer and each document
/// is handed on as a slice of it (no copy line by line); what a block holds
/// past a document's end stays for the next one, so the buffer holds about
/// one document and one block.
fn documents(name: &str, mut reader: impl Read, f: &mut impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    // `buf[..len]` holds the text read and not yet dropped; the rest of
    // `buf` is room for the next read (zeroed once, when the buffer grows).
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    // The current line starts at `at`; the current document (content since
    // its first line, or since its `---` marker's fourth byte) at
    // `doc_start`, valid while `doc_line != 0`.
    let mut at = 0usize;
    let mut doc_start = 0usize;
    let mut doc_line = 0u64; // first line with content in the document, 0 while none
    let mut number = 0u64;
    let mut eof = false;
    loop {
        let end_of_line = match memchr::memchr(b'\n', &buf[at..len]) {
            Some(i) => at + i + 1,
            None if eof => len,
            None => {
                // Keep what the current document and line need, then read on.
                let keep = if doc_line != 0 { doc_start } else { at };
                buf.copy_within(keep..len, 0);
                len -= keep;
                at -= keep;
                doc_start -= doc_start.min(keep);
                if buf.len() - len < BLOCK / 2 {
                    buf.resize((2 * buf.len()).max(BLOCK), 0);
                }
                let n = loop {
                    match reader.read(&mut buf[len..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::read_file(Path::new(name), e)),
                    }
                };
                len += n;
                eof = n == 0;
                continue;
            }
        };
        let end = at == end_of_line;
        let line = &buf[at..end_of_line];
        if !end {
            number += 1;
        }
        let separator = !end && (is_marker(line, b"---") || is_marker(line, b"..."));
        if end || separator {
            if doc_line != 0 {
                f(doc_line, utf8(name, &buf[doc_start..at])?)?;
            }
            doc_line = 0;
            if end {
                return Ok(());
            }
            // `--- {json}` or `--- kind: x` keeps content on the marker line.
            let rest = utf8(name, &line[3..])?.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                doc_start = at + 3;
                doc_line = number;
            }
            at = end_of_line;
            continue;
        }
        if doc_line == 0 && starts_content(name, line)? {
            doc_start = at;
            doc_line = number;
        }
        at = end_of_line;
    }
}

/// Whether `line`, outside a document, starts one: it is not blank, a
/// comment or a directive (`%`). Decided on the bytes when the first one
/// past ASCII whitespace is ASCII (the document's text is checked as a
/// whole later), else through `str::trim`.
fn starts_content(name: &str, line: &[u8]) -> Result<bool> {
    // `char::is_whitespace` in ASCII: space, \t, \n, \x0b, \x0c, \r.
    match line.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) {
        None => Ok(false),
        Some(b'#' | b'%') => {
            // A skipped line is checked here: the stream must be text throughout.
            utf8(name, line)?;
            Ok(false)
        }
        Some(b) if b.is_ascii() => Ok(true),
        Some(_) => {
            let t = utf8(name, line)?.trim();
            Ok(!(t.is_empty() || t.starts_with('#') || t.starts_with('%')))
        }
    }
}

/// `bytes` as text; a stream that is not UTF-8 is a read error, as
/// `BufRead::read_line` reports it.
fn utf8<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| {
        Error::read_file(
            Path::new(name),
            std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
        )
    })
}

fn is_marker(line: &[u8], marker: &[u8]) -> bool {
    line.strip_prefix(marker).is_some_and(|rest| matches!(rest.first(), None | Some(b' ' | b'\t' | b'\r' | b'\n')))
}

/// The object in document `doc` of file `name`, which starts on `line`:
/// JSON or YAML; a document that is neither is an input error naming both.
pub fn parse_object(name: &str, line: u64, doc: &str) -> Result<RawObject> {
    let parsed: std::result::Result<RawObject, String> = if doc.trim_start().starts_with(['{', '[']) {
        // The direct reader gives serde_json's value when it takes the
        // document; serde_json has the last word (and the error) otherwise.
        match jsonread::raw_object(doc) {
            Some(obj) => Ok(obj),
            None => serde_json::from_str(doc).map_err(|e| e.to_string()),
        }
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

    /// A reader that gives at most `.1` bytes per read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The documents and lines `documents` hands on, read `capacity` bytes
    /// at a time.
    fn split(text: &[u8], capacity: usize) -> Result<Vec<(u64, String)>> {
        let mut got = Vec::new();
        documents("m.yaml", Trickle(text, capacity), &mut |line, doc| {
            got.push((line, doc.to_owned()));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn documents_are_whole_whatever_the_block_size() {
        let long = format!("{{\"kind\":\"Pod\",\"x\":\"{}\"}}", "y".repeat(300));
        let text = format!(
            "%YAML 1.2\r\n\n# c\n--- # marker comment\r\nkind: A\r\n  # inner comment\n\n---\n{long}\n---{long}\n--- {long}\n...\n\
             \n---\nkind: B\nx: \"\u{e9}t\u{e9}\"\nlast: no newline"
        );
        let want = vec![
            (5, "kind: A\r\n  # inner comment\n\n".to_owned()),
            (9, format!("{long}\n---{long}\n")),
            (11, format!(" {long}\n")),
            (15, "kind: B\nx: \"\u{e9}t\u{e9}\"\nlast: no newline".to_owned()),
        ];
        for capacity in [1, 2, 7, 64, 1 << 16] {
            assert_eq!(split(text.as_bytes(), capacity).unwrap(), want, "capacity {capacity}");
        }
        assert!(split(b"", 8).unwrap().is_empty());
        assert!(split(b"---\n# only a comment\n...\n", 8).unwrap().is_empty());
    }

    #[test]
    fn text_that_is_not_utf8_is_a_read_error() {
        for text in [&b"kind: Pod\nx: \xff\n"[..], b"# \xfe\nkind: Pod\n", b"--- \xff\n"] {
            let err = split(text, 4).unwrap_err();
            assert!(err.to_string().contains("m.yaml"), "{err}");
            assert!(err.to_string().contains("valid UTF-8"), "{err}");
        }
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

    /// Files of 1 to 12 pods each (uneven sizes), in a temporary directory.
    fn pod_files(dir: &Path, bad: &[usize]) -> Vec<String> {
        (0..9)
            .map(|f| {
                let path = dir.join(format!("f{f}.yaml"));
                let mut text = String::new();
                for p in 0..(f * 7 % 12 + 1) {
                    text.push_str(&format!("---\nkind: Pod\nmetadata: {{name: p{f}-{p}}}\nspec: {{containers: []}}\n"));
                }
                if bad.contains(&f) {
                    text.push_str("---\nkind: Pod\nspec:\n  hostNetwork: [1]\n");
                }
                std::fs::write(&path, text).unwrap();
                path.display().to_string()
            })
            .collect()
    }

    #[test]
    fn parallel_reads_give_the_sequential_order_and_first_error() {
        let dir = tempfile::tempdir().unwrap();
        let files = pod_files(dir.path(), &[]);
        let mut sequential = Vec::new();
        let totals = read_all(&files, &mut |w, o| sequential.push((w.path(), o.clone()))).unwrap();
        assert_eq!(sequential.len(), (0..9).map(|f| f * 7 % 12 + 1).sum::<usize>());
        for threads in 1..=10 {
            let (parts, t) =
                read_all_parallel(&files, threads, Vec::new, |v, w, o| v.push((w.path(), o.clone()))).unwrap();
            assert!(parts.len() <= threads && !parts.is_empty());
            assert_eq!(parts.concat(), sequential, "{threads} threads");
            assert_eq!(t, totals);
        }

        // Files 3 and 7 hold bad documents: every split reports file 3's.
        let dir = tempfile::tempdir().unwrap();
        let files = pod_files(dir.path(), &[3, 7]);
        let first = read_all(&files, &mut |_, _| {}).unwrap_err().to_string();
        assert!(first.contains("f3.yaml"), "{first}");
        for threads in 1..=10 {
            let err = read_all_parallel(&files, threads, || (), |_, _, _| {}).unwrap_err();
            assert_eq!(err.to_string(), first, "{threads} threads");
        }
    }

    #[test]
    fn runs_are_contiguous_balanced_and_never_split_standard_input() {
        let dir = tempfile::tempdir().unwrap();
        let files = pod_files(dir.path(), &[]);
        for threads in 1..=12 {
            let runs = runs_of(&files, threads);
            assert!(runs.len() <= threads.min(files.len()) && runs.iter().all(|r| !r.is_empty()));
            assert_eq!(runs.concat(), files);
        }
        let size = |f: &String| std::fs::metadata(f).unwrap().len();
        let halves: Vec<u64> = runs_of(&files, 2).iter().map(|r| r.iter().map(size).sum()).collect();
        let total: u64 = files.iter().map(size).sum();
        let largest = files.iter().map(size).max().unwrap();
        assert!(halves[0] >= total / 2 && halves[0] - total / 2 <= largest, "{halves:?} of {total}");
        let with_stdin = [files[0].clone(), "-".to_owned(), files[1].clone()];
        assert_eq!(runs_of(&with_stdin, 4), vec![&with_stdin[..]]);
    }
}
