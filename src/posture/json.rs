//! A streaming writer of pretty-printed JSON for the posture documents,
//! byte for byte the layout of `serde_json::to_writer_pretty` (two-space
//! indent, `"key": value`, `[]` and `{}` when empty, serde_json's string
//! escapes and float format).
//!
//! A 10,000-pod scan writes tens of thousands of results. Through serde the
//! document cost more than reading and checking the pods: every string went
//! through serde_json's byte-by-byte escaper and every key and indent through
//! its formatter. Here strings are written in pieces straight from the
//! findings (no intermediate `String`), text that needs no escaping (nearly
//! all of it) is copied as is after a check that the compiler vectorises,
//! and bytes collect in one buffer that is handed to the sink in large
//! blocks.

use std::io::{self, Write};

/// Bytes gathered before they are handed to the sink.
const BLOCK: usize = 1 << 16;

/// Indentation, sliced to the depth (deeper levels repeat it).
const SPACES: &[u8; 64] = b"                                                                ";

/// Pretty JSON written to `W` in blocks. Calls must form a valid document:
/// [`Pretty::key`] or [`Pretty::element`] before each value inside an object
/// or array.
pub struct Pretty<W: Write> {
    out: W,
    buf: Vec<u8>,
    depth: usize,
    /// Whether the innermost open object or array has no value yet.
    empty: bool,
}

impl<W: Write> Pretty<W> {
    /// A writer at the top level of a document.
    pub fn new(out: W) -> Self {
        Pretty { out, buf: Vec::with_capacity(BLOCK + 4096), depth: 0, empty: true }
    }

    fn next_item(&mut self) {
        if self.empty {
            self.buf.push(b'\n');
        } else {
            self.buf.extend_from_slice(b",\n");
        }
        self.indent();
        self.empty = false;
    }

    fn indent(&mut self) {
        let mut n = 2 * self.depth;
        while n > SPACES.len() {
            self.buf.extend_from_slice(SPACES);
            n -= SPACES.len();
        }
        self.buf.extend_from_slice(&SPACES[..n]);
    }

    /// Start the next member of the current object: `"key": `. Keys are
    /// the writer's own literals, which need no escaping.
    pub fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key.as_bytes()), "{key:?}");
        self.next_item();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\": ");
    }

    /// The indentation of a line `extra` levels deeper than the current
    /// one, for text that [`Pretty::raw`] writes as is.
    pub fn indentation(&self, extra: usize) -> String {
        " ".repeat(2 * (self.depth + extra))
    }

    /// Start the next element of the current array.
    pub fn element(&mut self) {
        self.next_item();
    }

    /// Open an object (`b'{'`) or array (`b'['`) as the current value.
    pub fn open(&mut self, bracket: u8) {
        self.buf.push(bracket);
        self.depth += 1;
        self.empty = true;
    }

    /// Close the innermost object (`b'}'`) or array (`b']'`).
    pub fn close(&mut self, bracket: u8) {
        self.depth -= 1;
        if !self.empty {
            self.buf.push(b'\n');
            self.indent();
        }
        self.buf.push(bracket);
        // The enclosing container now holds a value.
        self.empty = false;
    }

    /// A string value.
    pub fn string(&mut self, s: &str) {
        self.buf.push(b'"');
        escape_into(&mut self.buf, s);
        self.buf.push(b'"');
    }

    /// One string value made of `parts`, written one after the other.
    pub fn string_of(&mut self, parts: &[&str]) {
        self.buf.push(b'"');
        for part in parts {
            escape_into(&mut self.buf, part);
        }
        self.buf.push(b'"');
    }

    /// `"key": "value"`.
    pub fn field(&mut self, key: &'static str, value: &str) {
        self.key(key);
        self.string(value);
    }

    /// A value written as is (`[]`, `null`, a number, a string from [`quoted`]).
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// `s` escaped, without quotes: part of a string value opened and closed
    /// with [`Pretty::raw`]. Returns where it was written, for [`Pretty::again`].
    pub fn escaped(&mut self, s: &str) -> std::ops::Range<usize> {
        let start = self.buf.len();
        escape_into(&mut self.buf, s);
        start..self.buf.len()
    }

    /// Write again what [`Pretty::escaped`] wrote at `written` (since the
    /// last [`Pretty::spill`]).
    pub fn again(&mut self, written: std::ops::Range<usize>) {
        self.buf.extend_from_within(written);
    }

    /// A number as serde_json writes it (`null` when not finite).
    pub fn number(&mut self, n: impl serde::Serialize) {
        // Writing a number to a Vec cannot fail.
        serde_json::to_writer(&mut self.buf, &n).expect("a number serializes");
    }

    /// Hand the gathered bytes to the sink once there are enough of them.
    pub fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= BLOCK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write what is left and return the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.buf)?;
        Ok(self.out)
    }
}

/// `parts` escaped for the inside of one JSON string: for a text written
/// many times, escaped once.
pub fn escape_parts(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        push_escaped(&mut out, part);
    }
    out
}

/// `s` as a JSON string, quotes included (see [`escape_parts`]).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    push_escaped(&mut out, s);
    out.push('"');
    out
}

/// Append `s` escaped to `out`; as is when nothing needs escaping.
fn push_escaped(out: &mut String, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let mut buf = Vec::with_capacity(s.len() + 8);
    escape_into(&mut buf, s);
    out.push_str(std::str::from_utf8(&buf).expect("escaping keeps UTF-8"));
}

/// Whether a byte must be escaped in a JSON string (as serde_json decides:
/// control characters, `"` and `\`).
fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any byte of `bytes` must be escaped. Eight bytes are tested at
/// a time with word arithmetic (the classic "has a zero byte" and "has a
/// byte less than n" tests, exact as yes/no answers).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    fn has_zero(x: u64) -> bool {
        x.wrapping_sub(ONES) & !x & HIGH != 0
    }
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        if control || has_zero(x ^ (ONES * u64::from(b'"'))) || has_zero(x ^ (ONES * u64::from(b'\\'))) {
            return true;
        }
    }
    // Short texts are mostly remainder: test it without branches.
    words.remainder().iter().fold(false, |any, &b| any | special(b))
}

/// Append `s` escaped as serde_json escapes string contents.
fn escape_into(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        buf.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !special(b) {
            continue;
        }
        buf.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\x08' => buf.extend_from_slice(b"\\b"),
            b'\x0c' => buf.extend_from_slice(b"\\f"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pretty(f: impl FnOnce(&mut Pretty<Vec<u8>>)) -> String {
        let mut p = Pretty::new(Vec::new());
        f(&mut p);
        String::from_utf8(p.finish().unwrap()).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é ü 日本 \u{2028} 😀");
        // Long runs on both sides of the 16-byte blocks.
        let long = format!("{}\"{}\\{}", "a".repeat(40), "b".repeat(17), "c".repeat(5));
        for s in [all.as_str(), &long, "", "plain text", "\u{7f}", "tab\tend"] {
            assert_eq!(pretty(|p| p.string(s)), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        assert_eq!(pretty(|p| p.string_of(&["a\"", "", "\nb"])), serde_json::to_string("a\"\nb").unwrap());
        assert_eq!(quoted("x\\y"), serde_json::to_string("x\\y").unwrap());
    }

    #[test]
    fn every_special_byte_is_found_at_every_place_in_a_word() {
        for b in (0u8..0x80).chain([0xc3]) {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = b;
                let s = String::from_utf8_lossy(&bytes);
                assert_eq!(needs_escape(s.as_bytes()), s.bytes().any(special), "byte {b:#x} at {at}");
                assert_eq!(pretty(|p| p.string(&s)), serde_json::to_string(&s).unwrap());
            }
        }
    }

    #[test]
    fn layout_is_serde_json_pretty() {
        let expected = serde_json::to_string_pretty(&json!({
            "a": [], "b": {}, "c": [1.5, {"d": null, "e": "x"}, [f64::NAN, 3]], "f": "g"
        }))
        .unwrap();
        let got = pretty(|p| {
            p.open(b'{');
            p.key("a");
            p.open(b'[');
            p.close(b']');
            p.key("b");
            p.open(b'{');
            p.close(b'}');
            p.key("c");
            p.open(b'[');
            p.element();
            p.number(1.5);
            p.element();
            p.open(b'{');
            p.key("d");
            p.raw("null");
            p.field("e", "x");
            p.close(b'}');
            p.element();
            p.open(b'[');
            p.element();
            p.number(f64::NAN);
            p.element();
            p.number(3usize);
            p.close(b']');
            p.close(b']');
            p.field("f", "g");
            p.close(b'}');
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn deep_documents_indent_past_the_spaces_table() {
        let mut value = json!("x");
        for _ in 0..40 {
            value = json!([value]);
        }
        let got = pretty(|p| {
            for _ in 0..40 {
                p.open(b'[');
                p.element();
            }
            p.string("x");
            for _ in 0..40 {
                p.close(b']');
            }
        });
        assert_eq!(got, serde_json::to_string_pretty(&value).unwrap());
    }
}
