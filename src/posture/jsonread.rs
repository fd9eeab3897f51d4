//! A direct reader of JSON documents into the spec types of
//! [`super::spec`], for the common case; serde_json decides everything else.
//!
//! Generated manifests are mostly JSON, and through serde_json's derived
//! visitors parsing them was half of a manifest scan's instructions. This
//! reader walks the bytes once, builds the same values, and skips what the
//! checks do not read with a strict validation of its JSON grammar.
//!
//! It accepts a subset of what serde_json accepts, never more: whenever it
//! meets anything it does not handle exactly as serde_json would (a value of
//! another type than the field's, a duplicate field, a negative or
//! fractional number where an integer is read, a surrogate escape, a key
//! with an escape, deep nesting, any syntax error, trailing text), it gives
//! up and returns `None`, and the caller parses the document with
//! serde_json, which gives the value or the error message. So for any
//! document the result is the one of `serde_json::from_str`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::spec::{
    Capabilities, Container, ContainerPort, Handler, HostField, JobTemplateSpec, Lifecycle, ObjectMeta, OwnerReference,
    PodOs, PodSecurityContext, PodSpec, PodTemplateSpec, ProfileType, RawObject, SeLinuxOptions, SecurityContext,
    Sysctl, Volume, WindowsOptions, VOLUME_SOURCES,
};

/// `None`: leave the document to serde_json.
type P<T> = Option<T>;

/// Nesting beyond this leaves the document to serde_json (whose limit is 128).
const MAX_DEPTH: u32 = 100;

/// The object of JSON document `doc`, when this reader handles it exactly as
/// `serde_json::from_str::<RawObject>` would; `None` otherwise.
pub fn raw_object(doc: &str) -> Option<RawObject> {
    let mut r = Reader { s: doc, b: doc.as_bytes(), i: 0, depth: 0 };
    let obj = r.raw_object()?;
    r.ws();
    (r.i == r.b.len()).then_some(obj)
}

/// The index of the first byte from `i` on that ends a string, starts an
/// escape or may not appear in a string: `"`, `\\` or a control character
/// (`b.len()` when there is none). Eight bytes are tested at a time with
/// word arithmetic: the classic "has a zero byte" and "has a byte below n"
/// tests, whose lowest flagged byte is always a true match.
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    while let Some(word) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGH;
        if found != 0 {
            return i + found.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20) {
        i += 1;
    }
    i
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
}

/// Fields seen so far in one object: a second occurrence of a declared
/// field is an error for serde's derived visitors.
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> P<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

impl<'a> Reader<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> P<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// `null`, consumed, or `false` (nothing consumed).
    #[inline]
    fn null(&mut self) -> P<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.literal(b"null")?;
        Some(true)
    }

    fn literal(&mut self, word: &[u8]) -> P<()> {
        if self.b.get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    fn enter(&mut self) -> P<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object: `f` is called with each key and reads (or skips) its value.
    /// A key with an escape leaves the document to serde_json (keys are
    /// plain in practice, and a plain key needs no `Cow`).
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a str) -> P<()>) -> P<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        self.enter()?;
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.key()?;
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            f(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array whose elements `f` reads.
    fn array<T>(&mut self, mut f: impl FnMut(&mut Self) -> P<T>) -> P<Vec<T>> {
        if self.peek()? != b'[' {
            return None;
        }
        self.i += 1;
        self.enter()?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Some(out);
        }
        loop {
            out.push(f(self)?);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// A key without escapes (the next byte is `"`).
    #[inline(always)]
    fn key(&mut self) -> P<&'a str> {
        let start = self.i + 1;
        let end = string_end(self.b, start);
        if *self.b.get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        // `"` is ASCII: both ends are char boundaries.
        self.s.get(start..end)
    }

    /// A string (the next byte is `"`), borrowed unless it has escapes.
    #[inline]
    fn string(&mut self) -> P<Cow<'a, str>> {
        let start = self.i + 1;
        let end = string_end(self.b, start);
        match *self.b.get(end)? {
            b'"' => {
                // `"` is ASCII: both ends are char boundaries.
                let s = self.s.get(start..end)?;
                self.i = end + 1;
                Some(Cow::Borrowed(s))
            }
            b'\\' => {
                self.i = end;
                self.escaped_string(start)
            }
            _ => None,
        }
    }

    /// The rest of a string with escapes, from `start` (after its `"`);
    /// `self.i` is at the first `\`.
    fn escaped_string(&mut self, start: usize) -> P<Cow<'a, str>> {
        let b = self.b;
        let mut out: Vec<u8> = b[start..self.i].to_vec();
        loop {
            match *b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok().map(Cow::Owned);
                }
                b'\\' => {
                    let c = *b.get(self.i + 1)?;
                    self.i += 2;
                    let plain = match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let code = self.hex4()?;
                            // Surrogates (pairs or lone) are left to serde_json.
                            let ch = char::from_u32(code)?;
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(plain);
                }
                c if c < 0x20 => return None,
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> P<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut code = 0;
        for &d in digits {
            code = code * 16 + char::from(d).to_digit(16)?;
        }
        self.i += 4;
        Some(code)
    }

    /// Skip a string (the next byte is `"`), validating it.
    fn skip_string(&mut self) -> P<()> {
        let b = self.b;
        self.i += 1;
        loop {
            self.i = string_end(b, self.i);
            match *b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    let c = *b.get(self.i + 1)?;
                    self.i += 2;
                    match c {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            char::from_u32(self.hex4()?)?;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// Skip a number, validating JSON's grammar:
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn skip_number(&mut self) -> P<()> {
        let b = self.b;
        if b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match *b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !b.get(self.i)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = b.get(self.i) {
                self.i += 1;
            }
            if !b.get(self.i)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    /// Skip any value, validating it.
    fn skip(&mut self) -> P<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(|r| r.skip()).map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// Whether the next value is present and not `null` (a `null` is consumed).
    #[inline]
    fn present(&mut self) -> P<bool> {
        Some(!self.null()?)
    }

    // Typed values. `null` → the default, as the spec's `nullable` decides;
    // the `opt_` readers give `None` for `null`.

    fn str_value(&mut self) -> P<String> {
        if !self.present()? {
            return Some(String::new());
        }
        self.opt_str_value().map(Option::unwrap_or_default)
    }

    fn opt_str_value(&mut self) -> P<Option<String>> {
        if !self.present()? {
            return Some(None);
        }
        if self.peek()? != b'"' {
            return None;
        }
        Some(Some(self.string()?.into_owned()))
    }

    fn opt_bool(&mut self) -> P<Option<bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| Some(true)),
            b'f' => self.literal(b"false").map(|()| Some(false)),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    fn bool_value(&mut self) -> P<bool> {
        self.opt_bool().map(Option::unwrap_or_default)
    }

    /// An `i64`: only a plain non-negative integer of at most 18 digits
    /// (which cannot overflow); anything else is left to serde_json.
    fn opt_int(&mut self) -> P<Option<i64>> {
        if !self.present()? {
            return Some(None);
        }
        let b = self.b;
        let start = self.i;
        self.digits();
        let digits = &b[start..self.i];
        if digits.is_empty() || digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = b.get(self.i) {
            return None;
        }
        Some(Some(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))))
    }

    fn int_value(&mut self) -> P<i64> {
        self.opt_int().map(Option::unwrap_or_default)
    }

    /// `null` → an empty vector; else an array of `f`'s values.
    fn vec<T>(&mut self, f: impl FnMut(&mut Self) -> P<T>) -> P<Vec<T>> {
        if !self.present()? {
            return Some(Vec::new());
        }
        self.array(f)
    }

    /// `null` → `None`; else `f`'s value (an object).
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> P<T>) -> P<Option<T>> {
        if !self.present()? {
            return Some(None);
        }
        f(self).map(Some)
    }

    /// `null` → `T::default()`; else `f`'s value.
    fn or_default<T: Default>(&mut self, f: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.opt(f).map(Option::unwrap_or_default)
    }

    fn strings(&mut self) -> P<Vec<String>> {
        self.vec(|r| {
            if r.peek()? != b'"' {
                return None;
            }
            Some(r.string()?.into_owned())
        })
    }

    // The spec types, field for field as their serde attributes declare them.

    fn raw_object(&mut self) -> P<RawObject> {
        let mut o = RawObject::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "apiVersion" => {
                    seen.first(0)?;
                    o.api_version = r.str_value()?;
                }
                "kind" => {
                    seen.first(1)?;
                    o.kind = r.str_value()?;
                }
                "metadata" => {
                    seen.first(2)?;
                    o.metadata = r.or_default(Self::object_meta)?;
                }
                "spec" => {
                    seen.first(3)?;
                    o.spec = r.opt(Self::pod_spec)?;
                }
                "template" => {
                    seen.first(4)?;
                    o.template = r.opt(|r| r.pod_template().map(Box::new))?;
                }
                "items" => {
                    seen.first(5)?;
                    o.items = r.vec(|r| r.raw_object())?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(o)
    }

    fn object_meta(&mut self) -> P<ObjectMeta> {
        let mut m = ObjectMeta::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "name" => {
                    seen.first(0)?;
                    m.name = r.str_value()?;
                }
                "generateName" => {
                    seen.first(1)?;
                    m.generate_name = r.str_value()?;
                }
                "namespace" => {
                    seen.first(2)?;
                    m.namespace = r.str_value()?;
                }
                "annotations" => {
                    seen.first(3)?;
                    m.annotations = r.or_default(Self::string_map)?;
                }
                "ownerReferences" => {
                    seen.first(4)?;
                    m.owner_references = r.vec(Self::owner_reference)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(m)
    }

    /// A map of strings; a repeated key keeps its last value, as a
    /// `BTreeMap` built by serde does.
    fn string_map(&mut self) -> P<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        self.object(|r, key| {
            if r.peek()? != b'"' {
                return None;
            }
            let value = r.string()?.into_owned();
            map.insert(key.to_owned(), value);
            Some(())
        })?;
        Some(map)
    }

    fn owner_reference(&mut self) -> P<OwnerReference> {
        let mut o = OwnerReference::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "kind" => {
                    seen.first(0)?;
                    o.kind = r.str_value()?;
                }
                "name" => {
                    seen.first(1)?;
                    o.name = r.str_value()?;
                }
                "controller" => {
                    seen.first(2)?;
                    o.controller = r.bool_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(o)
    }

    fn pod_template(&mut self) -> P<PodTemplateSpec> {
        let mut t = PodTemplateSpec::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "metadata" => {
                    seen.first(0)?;
                    t.metadata = r.or_default(Self::object_meta)?;
                }
                "spec" => {
                    seen.first(1)?;
                    t.spec = r.or_default(Self::pod_spec)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(t)
    }

    fn job_template(&mut self) -> P<JobTemplateSpec> {
        let mut t = JobTemplateSpec::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "spec" => {
                    seen.first(0)?;
                    t.spec = r.or_default(Self::pod_spec)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(t)
    }

    fn pod_spec(&mut self) -> P<PodSpec> {
        let mut s = PodSpec::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "template" => {
                    seen.first(0)?;
                    s.template = r.opt(|r| r.pod_template().map(Box::new))?;
                }
                "jobTemplate" => {
                    seen.first(1)?;
                    s.job_template = r.opt(|r| r.job_template().map(Box::new))?;
                }
                "initContainers" => {
                    seen.first(2)?;
                    s.init_containers = r.vec(Self::container)?;
                }
                "containers" => {
                    seen.first(3)?;
                    s.containers = r.vec(Self::container)?;
                }
                "ephemeralContainers" => {
                    seen.first(4)?;
                    s.ephemeral_containers = r.vec(Self::container)?;
                }
                "hostNetwork" => {
                    seen.first(5)?;
                    s.host_network = r.bool_value()?;
                }
                "hostPID" => {
                    seen.first(6)?;
                    s.host_pid = r.bool_value()?;
                }
                "hostIPC" => {
                    seen.first(7)?;
                    s.host_ipc = r.bool_value()?;
                }
                "hostUsers" => {
                    seen.first(8)?;
                    s.host_users = r.opt_bool()?;
                }
                "os" => {
                    seen.first(9)?;
                    s.os = r.opt(Self::pod_os)?;
                }
                "securityContext" => {
                    seen.first(10)?;
                    s.security_context = r.opt(Self::pod_security_context)?;
                }
                "volumes" => {
                    seen.first(11)?;
                    s.volumes = r.vec(Self::volume)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(s)
    }

    fn pod_os(&mut self) -> P<PodOs> {
        let mut os = PodOs::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "name" => {
                    seen.first(0)?;
                    os.name = r.str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(os)
    }

    fn container(&mut self) -> P<Container> {
        let mut c = Container::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "name" => {
                    seen.first(0)?;
                    c.name = r.str_value()?;
                }
                "image" => {
                    seen.first(1)?;
                    c.image = r.str_value()?;
                }
                "ports" => {
                    seen.first(2)?;
                    c.ports = r.vec(Self::container_port)?;
                }
                "securityContext" => {
                    seen.first(3)?;
                    c.security_context = r.opt(Self::security_context)?;
                }
                "livenessProbe" => {
                    seen.first(4)?;
                    c.liveness_probe = r.opt(Self::handler)?;
                }
                "readinessProbe" => {
                    seen.first(5)?;
                    c.readiness_probe = r.opt(Self::handler)?;
                }
                "startupProbe" => {
                    seen.first(6)?;
                    c.startup_probe = r.opt(Self::handler)?;
                }
                "lifecycle" => {
                    seen.first(7)?;
                    c.lifecycle = r.opt(Self::lifecycle)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(c)
    }

    fn container_port(&mut self) -> P<ContainerPort> {
        let mut p = ContainerPort::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "hostPort" => {
                    seen.first(0)?;
                    p.host_port = r.int_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(p)
    }

    fn handler(&mut self) -> P<Handler> {
        let mut h = Handler::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "httpGet" => {
                    seen.first(0)?;
                    h.http_get = r.opt(Self::host_field)?;
                }
                "tcpSocket" => {
                    seen.first(1)?;
                    h.tcp_socket = r.opt(Self::host_field)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(h)
    }

    fn host_field(&mut self) -> P<HostField> {
        let mut h = HostField::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "host" => {
                    seen.first(0)?;
                    h.host = r.str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(h)
    }

    fn lifecycle(&mut self) -> P<Lifecycle> {
        let mut l = Lifecycle::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "postStart" => {
                    seen.first(0)?;
                    l.post_start = r.opt(Self::handler)?;
                }
                "preStop" => {
                    seen.first(1)?;
                    l.pre_stop = r.opt(Self::handler)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(l)
    }

    fn security_context(&mut self) -> P<SecurityContext> {
        let mut s = SecurityContext::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "privileged" => {
                    seen.first(0)?;
                    s.privileged = r.opt_bool()?;
                }
                "allowPrivilegeEscalation" => {
                    seen.first(1)?;
                    s.allow_privilege_escalation = r.opt_bool()?;
                }
                "capabilities" => {
                    seen.first(2)?;
                    s.capabilities = r.opt(Self::capabilities)?;
                }
                "runAsNonRoot" => {
                    seen.first(3)?;
                    s.run_as_non_root = r.opt_bool()?;
                }
                "runAsUser" => {
                    seen.first(4)?;
                    s.run_as_user = r.opt_int()?;
                }
                "seccompProfile" => {
                    seen.first(5)?;
                    s.seccomp_profile = r.opt(Self::profile_type)?;
                }
                "appArmorProfile" => {
                    seen.first(6)?;
                    s.app_armor_profile = r.opt(Self::profile_type)?;
                }
                "seLinuxOptions" => {
                    seen.first(7)?;
                    s.se_linux_options = r.opt(Self::se_linux_options)?;
                }
                "procMount" => {
                    seen.first(8)?;
                    s.proc_mount = r.opt_str_value()?;
                }
                "windowsOptions" => {
                    seen.first(9)?;
                    s.windows_options = r.opt(Self::windows_options)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(s)
    }

    fn pod_security_context(&mut self) -> P<PodSecurityContext> {
        let mut s = PodSecurityContext::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "runAsNonRoot" => {
                    seen.first(0)?;
                    s.run_as_non_root = r.opt_bool()?;
                }
                "runAsUser" => {
                    seen.first(1)?;
                    s.run_as_user = r.opt_int()?;
                }
                "seccompProfile" => {
                    seen.first(2)?;
                    s.seccomp_profile = r.opt(Self::profile_type)?;
                }
                "appArmorProfile" => {
                    seen.first(3)?;
                    s.app_armor_profile = r.opt(Self::profile_type)?;
                }
                "seLinuxOptions" => {
                    seen.first(4)?;
                    s.se_linux_options = r.opt(Self::se_linux_options)?;
                }
                "sysctls" => {
                    seen.first(5)?;
                    s.sysctls = r.vec(Self::sysctl)?;
                }
                "windowsOptions" => {
                    seen.first(6)?;
                    s.windows_options = r.opt(Self::windows_options)?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(s)
    }

    fn capabilities(&mut self) -> P<Capabilities> {
        let mut c = Capabilities::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "add" => {
                    seen.first(0)?;
                    c.add = r.strings()?;
                }
                "drop" => {
                    seen.first(1)?;
                    c.drop = r.strings()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(c)
    }

    fn profile_type(&mut self) -> P<ProfileType> {
        let mut p = ProfileType::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "type" => {
                    seen.first(0)?;
                    p.kind = r.str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(p)
    }

    fn se_linux_options(&mut self) -> P<SeLinuxOptions> {
        let mut o = SeLinuxOptions::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "type" => {
                    seen.first(0)?;
                    o.kind = r.str_value()?;
                }
                "user" => {
                    seen.first(1)?;
                    o.user = r.str_value()?;
                }
                "role" => {
                    seen.first(2)?;
                    o.role = r.str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(o)
    }

    fn windows_options(&mut self) -> P<WindowsOptions> {
        let mut w = WindowsOptions::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "hostProcess" => {
                    seen.first(0)?;
                    w.host_process = r.opt_bool()?;
                }
                "runAsUserName" => {
                    seen.first(1)?;
                    w.run_as_user_name = r.opt_str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(w)
    }

    fn sysctl(&mut self) -> P<Sysctl> {
        let mut s = Sysctl::default();
        let mut seen = Seen(0);
        self.object(|r, key| {
            match key {
                "name" => {
                    seen.first(0)?;
                    s.name = r.str_value()?;
                }
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(s)
    }

    /// A volume as its hand-written `Deserialize` reads it: repeated keys
    /// are allowed (the last `name` wins; sources accumulate).
    fn volume(&mut self) -> P<Volume> {
        let mut v = Volume::default();
        self.object(|r, key| {
            if key == "name" {
                v.name = r.str_value()?;
            } else if let Some(i) = VOLUME_SOURCES.iter().position(|s| *s == key) {
                if r.present()? {
                    r.skip()?;
                    v.sources |= 1 << i;
                }
            } else {
                r.skip()?;
            }
            Some(())
        })?;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents that use every field of every spec type, nulls, escapes,
    /// lists and values to skip.
    const CORPUS: &[&str] = &[
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","generateName":"g-","namespace":"ns",
            "labels":{"a":"b"},"annotations":{"container.apparmor.security.beta.kubernetes.io/c":"unconfined","x":"y"},
            "ownerReferences":[{"kind":"ReplicaSet","name":"rs","controller":true,"uid":"u"}]},
          "spec":{"hostNetwork":true,"hostPID":false,"hostIPC":null,"hostUsers":false,"os":{"name":"linux"},
            "securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"},
              "appArmorProfile":{"type":"Localhost","localhostProfile":"p"},
              "seLinuxOptions":{"type":"spc_t","user":"u","role":"r","level":"s0"},
              "sysctls":[{"name":"kernel.msgmax","value":"1"}],"windowsOptions":{"hostProcess":false,"runAsUserName":"x"}},
            "initContainers":[{"name":"i","image":"busybox","securityContext":{"runAsUser":0,"procMount":"Unmasked"}}],
            "containers":[{"name":"c","image":"nginx:1.27","ports":[{"containerPort":80,"hostPort":8080}],
              "securityContext":{"privileged":true,"allowPrivilegeEscalation":false,
                "capabilities":{"add":["NET_ADMIN","CHOWN"],"drop":["ALL"]},"runAsNonRoot":null,"runAsUser":null,
                "seccompProfile":{"type":"Unconfined"},"appArmorProfile":null,"seLinuxOptions":null,
                "procMount":null,"windowsOptions":{"hostProcess":true,"runAsUserName":null}},
              "livenessProbe":{"httpGet":{"host":"1.2.3.4","port":80,"path":"/"},"periodSeconds":10},
              "readinessProbe":{"tcpSocket":{"host":null,"port":"http"}},"startupProbe":null,
              "lifecycle":{"postStart":{"httpGet":{"host":"h"}},"preStop":{"exec":{"command":["sleep","1"]}}},
              "resources":{"limits":{"cpu":"500m","memory":"128Mi"}},"env":[{"name":"E","value":"1.5e3"}]}],
            "ephemeralContainers":[{"name":"e","image":"dbg@sha256:00","targetContainerName":"c"}],
            "volumes":[{"name":"v","hostPath":{"path":"/"}},{"name":"w","emptyDir":{},"configMap":null},{"name":"x"}],
            "priority":-10,"overhead":{"cpu":0.5},"tolerations":[{"effect":"NoSchedule","tolerationSeconds":3E+2}]}}"#,
        r#"  {"kind":"Deployment","metadata":null,"spec":{"replicas":3,"selector":{},
            "template":{"metadata":{"annotations":null},"spec":{"containers":[{"name":"d","image":""}]}}}} "#,
        r#"{"kind":"CronJob","spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":
            {"spec":{"containers":[{"name":"j","image":"a:latest"}],"securityContext":null}}}}}}"#,
        r#"{"kind":"PodTemplate","metadata":{"name":"t"},"template":{"spec":{"volumes":null,"containers":null}}}"#,
        r#"{"kind":"List","items":[{"kind":"Pod","spec":null},{"kind":"Service","spec":{"ports":[{"port":80}]}},
            {"kind":"Job","spec":{"template":null}}],"metadata":{"resourceVersion":""}}"#,
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"esc\\\"ape\\\\d\\u00e9\\n\\/\\t\\u2028\",\"namespace\":\"\u{e9}\u{65e5}\"},
          \"spec\":{\"containers\":[{\"name\":\"c\\u0041\",\"image\":\"r\\/i\"}]},\"skip\":[true,false,null,0,-0.0,1e-2]}",
        r#"{"kind":"Pod","items":[],"spec":{"containers":[{"name":"c","ports":[{"hostPort":0},{"hostPort":null},{}]}]}}"#,
        "{}",
    ];

    #[test]
    fn string_ends_are_found_at_every_place_in_a_word() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 0..20 {
                for at in 0..=len {
                    let mut bytes = vec![b'a'; len];
                    // Bytes that look like matches to a careless test: 0x80+, 0x20, 0x21, 0x5b.
                    for (i, b) in bytes.iter_mut().enumerate() {
                        *b = [b'a', 0xa2, b' ', b'!', b'[', 0xdc][i % 6];
                    }
                    if at < len {
                        bytes[at] = special;
                    }
                    for from in 0..=at {
                        assert_eq!(string_end(&bytes, from), at, "{special:#x} at {at} of {len} from {from}");
                    }
                }
            }
        }
    }

    fn serde(doc: &str) -> Result<String, String> {
        serde_json::from_str::<RawObject>(doc).map(|o| format!("{o:?}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_corpus_is_read_directly_and_as_serde_json_reads_it() {
        for doc in CORPUS {
            let ours = raw_object(doc).unwrap_or_else(|| panic!("left to serde_json: {doc}"));
            assert_eq!(Ok(format!("{ours:?}")), serde(doc), "{doc}");
        }
    }

    #[test]
    fn what_serde_json_rejects_or_reads_otherwise_is_left_to_it() {
        for doc in [
            r#"{"kind":"Pod","kind":"Pod"}"#,
            r#"{"spec":{"hostNetwork":"true"}}"#,
            r#"{"spec":{"containers":[{"securityContext":{"runAsUser":-1}}]}}"#,
            r#"{"spec":{"containers":[{"securityContext":{"runAsUser":1.0}}]}}"#,
            r#"{"spec":{"containers":[{"securityContext":{"runAsUser":99999999999999999999}}]}}"#,
            r#"{"spec":{"containers":[null]}}"#,
            r#"{"metadata":{"annotations":{"a":null}}}"#,
            r#"{"metadata":["m"]}"#,
            r#"{"kind":"Pod"} x"#,
            r#"{"kind":"Pod",}"#,
            r#"{"x":01}"#,
            r#"{"x":1.}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":"\q"}"#,
            "{\"x\":\"a\tb\"}",
            r#"[{"kind":"Pod"}]"#,
            r#"{"x":tru}"#,
            // Valid, but a key with an escape.
            r#"{"k\u0069nd":"Pod","spec":{}}"#,
        ] {
            assert!(raw_object(doc).is_none(), "{doc}");
        }
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(150), "]".repeat(150));
        assert!(raw_object(&deep).is_none());
    }

    /// Every one-character edit of the corpus: whenever the direct reader
    /// takes the result, serde_json reads the same value from it.
    #[test]
    fn edited_documents_are_read_as_serde_json_reads_them_or_left_to_it() {
        let inserts = ['{', '}', '[', ']', '"', ',', ':', '\\', '0', '1', '-', '.', 'e', 'n', 't', ' ', 'x', '\n'];
        let mut taken = 0;
        let mut tried = 0;
        for doc in CORPUS {
            let chars: Vec<char> = doc.chars().collect();
            for at in 0..chars.len() {
                let mut edits = vec![{
                    let mut c = chars.clone();
                    c.remove(at);
                    c
                }];
                for &ins in &inserts[(at % 3)..] {
                    if (at + usize::from(ins as u8)) % 4 != 0 {
                        continue;
                    }
                    let mut c = chars.clone();
                    c.insert(at, ins);
                    edits.push(c.clone());
                    c[at + 1] = ins;
                    c.remove(at);
                    edits.push(c);
                }
                for edit in edits {
                    let text: String = edit.into_iter().collect();
                    tried += 1;
                    if let Some(ours) = raw_object(&text) {
                        taken += 1;
                        assert_eq!(Ok(format!("{ours:?}")), serde(&text), "{text}");
                    }
                }
            }
        }
        assert!(taken > tried / 10, "the direct reader took only {taken} of {tried} edits");
    }
}
