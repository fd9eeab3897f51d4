//! How an image reference pins what runs: by digest, by tag, or not at all.
//!
//! The grammar is the one of the container tools:
//! `[registry[:port]/]repository[:tag][@digest]`. A `:` before the last `/`
//! belongs to the registry (`host:5000/app` has no tag); a digest pins the
//! image whatever the tag says.

/// What an image reference says about the version it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning<'a> {
    /// `…@sha256:…`: the exact image, whatever tag is also written.
    Digest,
    /// A tag other than `latest`.
    Tag(&'a str),
    /// The tag `latest`, written out.
    Latest,
    /// No tag: the runtime pulls `latest`.
    Untagged,
    /// No image at all (an invalid spec; the runtime cannot start it).
    Empty,
}

impl Pinning<'_> {
    /// Whether the reference floats (`latest`, no tag, or no image).
    pub fn floats(self) -> bool {
        matches!(self, Pinning::Latest | Pinning::Untagged | Pinning::Empty)
    }
}

/// Classify an image reference.
pub fn pinning(image: &str) -> Pinning<'_> {
    let image = image.trim();
    if image.is_empty() {
        return Pinning::Empty;
    }
    // Byte searches: every separator is ASCII, so the slices fall on char
    // boundaries (and short references skip the char searchers' set-up).
    let (name, digest) = match image.bytes().position(|b| b == b'@') {
        Some(at) => (&image[..at], &image[at + 1..]),
        None => (image, ""),
    };
    if !digest.is_empty() {
        return Pinning::Digest;
    }
    let last_segment = match name.bytes().rposition(|b| b == b'/') {
        Some(at) => &name[at + 1..],
        None => name,
    };
    match last_segment.bytes().position(|b| b == b':').map(|at| &last_segment[at + 1..]) {
        Some("latest") => Pinning::Latest,
        Some("") | None => Pinning::Untagged,
        Some(tag) => Pinning::Tag(tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_digests_and_registry_ports() {
        let cases = [
            ("nginx", Pinning::Untagged),
            ("nginx:latest", Pinning::Latest),
            ("nginx:1.27", Pinning::Tag("1.27")),
            ("docker.io/library/nginx", Pinning::Untagged),
            ("host:5000/app", Pinning::Untagged),
            ("host:5000/app:latest", Pinning::Latest),
            ("host:5000/team/app:v2", Pinning::Tag("v2")),
            ("nginx@sha256:0123abcd", Pinning::Digest),
            ("nginx:latest@sha256:0123abcd", Pinning::Digest),
            ("host:5000/app@sha256:0123abcd", Pinning::Digest),
            ("nginx:LATEST", Pinning::Tag("LATEST")),
            ("nginx:", Pinning::Untagged),
            ("nginx@", Pinning::Untagged),
            ("", Pinning::Empty),
            ("  ", Pinning::Empty),
        ];
        for (image, want) in cases {
            assert_eq!(pinning(image), want, "{image:?}");
        }
        assert!(pinning("a").floats() && pinning("a:latest").floats() && pinning("").floats());
        assert!(!pinning("a:1").floats() && !pinning("a@sha256:1").floats());
    }
}
