//! Where the nodes of a YAML document stand: one pass over the document's
//! text that gives the line of every mapping key and sequence item of its
//! block-style part, by path (`spec.template.spec.containers[0].image`).
//!
//! `serde_yaml` keeps no positions, and the objects are already parsed by
//! [`super::manifest`]; this pass only adds the lines. It reads what
//! `kubectl`, `helm template` and `kustomize build` write — block mappings
//! and sequences, indented or not under their key, block scalars (`|`, `>`)
//! skipped — and leaves out what it cannot place: the inside of flow
//! collections (`{…}`, `[…]`, JSON documents) and keys in multi-line
//! quoted scalars. A path that is not indexed is simply absent; callers fall
//! back to an enclosing node's line.

use std::collections::HashMap;

/// The line of every indexed node of one document, by path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyLines {
    lines: HashMap<String, u64>,
}

impl KeyLines {
    /// Index `doc`, whose first line is line `first` of its file.
    pub fn index(doc: &str, first: u64) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<Node> = Vec::new();
        // Lines deeper than this column belong to a block scalar.
        let mut scalar_above: Option<usize> = None;
        for (offset, text) in doc.lines().enumerate() {
            let line = first + offset as u64;
            let indent = text.len() - text.trim_start_matches(' ').len();
            let rest = &text[indent..];
            if rest.trim().is_empty() || rest.starts_with('#') {
                continue;
            }
            match scalar_above {
                Some(col) if indent > col => continue,
                _ => scalar_above = None,
            }
            let mut col = indent;
            let mut rest = rest;
            // Sequence items, several on one line in `- - x`.
            while rest == "-" || rest.starts_with("- ") {
                let index = pop_to_item(&mut stack, col);
                stack.push(Node { col, segment: Segment::Item(index) });
                lines.insert(path(&stack), line);
                let after = &rest[1..];
                let spaces = after.len() - after.trim_start_matches(' ').len();
                col += 1 + spaces;
                rest = &after[spaces..];
                if is_block_scalar(rest) {
                    scalar_above = Some(col - spaces - 1);
                }
            }
            let Some((key, value)) = split_key(rest) else { continue };
            while stack.last().is_some_and(|n| n.col >= col) {
                stack.pop();
            }
            stack.push(Node { col, segment: Segment::Key(key) });
            lines.insert(path(&stack), line);
            if is_block_scalar(value) {
                scalar_above = Some(col);
            }
        }
        KeyLines { lines }
    }

    /// The line of the node at `path`, if it was indexed.
    pub fn get(&self, path: &str) -> Option<u64> {
        self.lines.get(path).copied()
    }
}

#[derive(Debug)]
struct Node {
    col: usize,
    segment: Segment,
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Item(usize),
}

/// Pop what an item at `col` closes; returns the item's index in its
/// sequence (a previous item at the same column is its sibling).
fn pop_to_item(stack: &mut Vec<Node>, col: usize) -> usize {
    while stack.last().is_some_and(|n| n.col > col) {
        stack.pop();
    }
    match stack.last() {
        Some(Node { segment: Segment::Item(i), col: c }) if *c == col => {
            let next = i + 1;
            stack.pop();
            next
        }
        _ => 0,
    }
}

fn path(stack: &[Node]) -> String {
    let mut out = String::new();
    for node in stack {
        match &node.segment {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Item(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `key: value` or `key:` (plain, or quoted with `"` or `'`) → the key and
/// what follows the colon.
fn split_key(rest: &str) -> Option<(String, &str)> {
    if let Some(q @ ('"' | '\'')) = rest.chars().next() {
        let end = rest[1..].find(q)? + 1;
        let after = rest[end + 1..].trim_start_matches(' ');
        let value = after.strip_prefix(':').filter(|v| v.is_empty() || v.starts_with([' ', '\t']))?;
        return Some((rest[1..end].to_owned(), value));
    }
    if rest.starts_with(['{', '[', '&', '*', '!', '|', '>', '?', '%', '@', '`']) {
        return None;
    }
    let colon = rest.find(": ").or_else(|| rest.strip_suffix(':').map(str::len))?;
    let key = rest[..colon].trim_end();
    (!key.is_empty() && !key.contains(" #")).then(|| (key.to_owned(), &rest[colon + 1..]))
}

/// Whether a value starts a block scalar (`|`, `>`, with indicators).
fn is_block_scalar(value: &str) -> bool {
    let v = value.trim();
    let v = v.split(" #").next().unwrap_or(v).trim_end();
    v.starts_with(['|', '>']) && v[1..].chars().all(|c| matches!(c, '-' | '+' | '1'..='9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_by_path_indented_or_not() {
        let doc = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    note: |
      spec: not a key
      - nor an item
spec:
  template:
    spec:
      containers:
      - name: app
        image: \"reg/app:1\"
        securityContext:
          runAsNonRoot: true
      -   name: side
          args: [\"a: b\"]
      initContainers:
        - name: init
          image: x
\"quoted key\": 1
";
        let k = KeyLines::index(doc, 10);
        assert_eq!(k.get("kind"), Some(11));
        assert_eq!(k.get("metadata.annotations.note"), Some(15));
        assert_eq!(k.get("spec"), Some(18), "the block scalar's lines are not keys");
        assert_eq!(k.get("spec.template.spec.containers[0]"), Some(22));
        assert_eq!(k.get("spec.template.spec.containers[0].image"), Some(23));
        assert_eq!(k.get("spec.template.spec.containers[0].securityContext"), Some(24));
        assert_eq!(k.get("spec.template.spec.containers[1]"), Some(26));
        assert_eq!(k.get("spec.template.spec.containers[1].name"), Some(26));
        assert_eq!(k.get("spec.template.spec.containers[1].args"), Some(27));
        assert_eq!(k.get("spec.template.spec.initContainers[0].image"), Some(30));
        assert_eq!(k.get("quoted key"), Some(31));
        assert_eq!(k.get("spec.template.spec.containers[2]"), None);
    }

    #[test]
    fn flow_and_json_documents_index_only_what_is_on_block_lines() {
        let k = KeyLines::index("kind: Pod\nspec: {containers: [{name: a}]}\n", 1);
        assert_eq!(k.get("spec"), Some(2));
        assert_eq!(k.get("spec.containers[0]"), None);
        let k = KeyLines::index("{\"kind\": \"Pod\"}\n", 1);
        assert_eq!(k.get("kind"), None);
    }

    #[test]
    fn nested_sequences_and_list_items() {
        let doc = "kind: List\nitems:\n- kind: Pod\n  spec:\n    containers:\n    - name: a\n- kind: Pod\n  spec:\n    containers:\n    - - x\n      - y\n";
        let k = KeyLines::index(doc, 1);
        assert_eq!(k.get("items[0].spec.containers[0]"), Some(6));
        assert_eq!(k.get("items[1]"), Some(7));
        assert_eq!(k.get("items[1].spec.containers[0][0]"), Some(10));
        assert_eq!(k.get("items[1].spec.containers[0][1]"), Some(11));
    }
}
