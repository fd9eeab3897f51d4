//! Private keys and cloud credentials left in a container's filesystem:
//! which files are candidates (by name and size) and how a candidate is
//! recognised (a marker in its first lines). Both probes use these tables —
//! the local probe here, the exec probe by passing them to its script as
//! arguments — so that they find the same files. Only the path and the kind
//! of what was found leave the probe; never a byte of the secret.

/// File names (`find -name` patterns, `*` only) that may hold a key or
/// credentials.
pub const NAME_PATTERNS: &[&str] = &[
    "*.pem",
    "*.key",
    "*.ppk",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "credentials",
    "*credentials*.json",
    "*service-account*.json",
    "*service_account*.json",
];

/// Text that marks a secret, and what it is. Matched literally anywhere in
/// one of the first [`HEADER_LINES`] lines.
pub const MARKERS: &[(&str, &str)] = &[
    ("PRIVATE KEY-----", "private key (PEM)"),
    ("PuTTY-User-Key-File", "private key (PuTTY)"),
    ("aws_secret_access_key", "AWS credentials"),
    ("\"private_key_id\"", "Google Cloud service account key"),
    ("\"refresh_token\"", "OAuth refresh token"),
];

/// How many lines of a candidate are looked at.
pub const HEADER_LINES: usize = 64;

/// How many bytes of a candidate are looked at (the lines are those within
/// them), so that a large file without newlines is not read whole.
pub const HEADER_BYTES: usize = 64 * 1024;

/// Candidates larger than this (bytes) are not read: keys and credential
/// files are small, and a scan must not read large files.
pub const MAX_SIZE: u64 = 1 << 20;

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensitiveFiles {
    /// `(path, kind)` of each file holding a marker, sorted by path.
    pub found: Vec<(String, String)>,
    /// Candidates that the probe's user could not read.
    pub unreadable: Vec<String>,
}

impl SensitiveFiles {
    /// Both lists sorted and without duplicates, as every probe returns them.
    pub fn sorted(mut self) -> Self {
        self.found.sort();
        self.found.dedup();
        self.unreadable.sort();
        self.unreadable.dedup();
        self
    }
}

/// Whether a file name matches one of [`NAME_PATTERNS`].
pub fn is_candidate(name: &str) -> bool {
    NAME_PATTERNS.iter().any(|p| glob(p.as_bytes(), name.as_bytes()))
}

/// The kind of secret in `head` (the start of a file), if any: the first
/// marker found in its first [`HEADER_LINES`] lines within [`HEADER_BYTES`].
pub fn classify(head: &[u8]) -> Option<&'static str> {
    let head = &head[..head.len().min(HEADER_BYTES)];
    head.split(|&b| b == b'\n')
        .take(HEADER_LINES)
        .find_map(|line| MARKERS.iter().find(|(marker, _)| contains(line, marker.as_bytes())).map(|(_, kind)| *kind))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `*`-only glob matching, as `find -name` does for these patterns.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_markers() {
        for yes in
            ["tls.key", "server.pem", "id_ed25519", "credentials", "my-credentials.json", "gcp-service-account-1.json"]
        {
            assert!(is_candidate(yes), "{yes}");
        }
        for no in ["id_rsa.pub", "key", "credentials.txt", "README.md", "cert.crt"] {
            assert!(!is_candidate(no), "{no}");
        }
        assert_eq!(classify(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn..."), Some("private key (PEM)"));
        assert_eq!(classify(b"[default]\naws_access_key_id = A\naws_secret_access_key = s\n"), Some("AWS credentials"));
        assert_eq!(classify(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), None);
        let late = format!("{}-----BEGIN PRIVATE KEY-----\n", "x\n".repeat(HEADER_LINES));
        assert_eq!(classify(late.as_bytes()), None, "only the first lines count");
    }
}
