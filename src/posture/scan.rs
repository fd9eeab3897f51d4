//! Run every posture control over a stream of workloads and keep only what
//! the reports need: the offending containers, counts, and per-source errors.
//! Workloads are dropped as soon as they are checked, so memory grows with
//! the number of findings, not with the size of the cluster; the HDF and the
//! seed JSON are written straight from the findings, without a second copy
//! in memory.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
#[cfg(test)]
use serde_json::Value;

use super::image::{pinning, Pinning};
use super::json::{escape_parts, quoted, Pretty};
use super::manifest;
use super::pss::{checks_for, Check, Level, PodView, Subject, Violation};
use super::user::{run_as, RunAs};
use super::workload::Workload;
use crate::hdf::model::ResultStatus;

/// Where an object was read: a manifest file and line, or a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A manifest file (`-` for standard input) and the line its document starts on.
    File {
        /// The path as given (shared by the documents of the file).
        path: Arc<str>,
        /// 1-based line of the document.
        line: u64,
    },
    /// An object read from the API server.
    Live,
}

/// The object a finding is about, shared by all its findings.
#[derive(Debug)]
pub struct Object {
    /// Namespace (empty when a manifest omits it).
    pub namespace: String,
    /// Object kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// The SARIF-style location: `path:line` for files, `k8s/<ns>/<kind>/<name>` for live objects.
    pub location: String,
    /// `<namespace>/<kind>/<name>` escaped for a JSON string and the
    /// location as a JSON string, made when the first HDF result of the
    /// object is written: every result of the object writes them.
    json: OnceLock<(String, String)>,
}

impl Object {
    fn new(namespace: String, kind: String, name: String, location: String) -> Self {
        Object { namespace, kind, name, location, json: OnceLock::new() }
    }

    /// The escaped path and the quoted location (see `json`).
    fn json(&self) -> &(String, String) {
        self.json.get_or_init(|| {
            (escape_parts(&[self.shown_namespace(), "/", &self.kind, "/", &self.name]), quoted(&self.location))
        })
    }

    /// `<namespace>/<kind>/<name>`, `-` for a missing namespace.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.shown_namespace(), self.kind, self.name)
    }

    /// The namespace, `-` when there is none.
    fn shown_namespace(&self) -> &str {
        if self.namespace.is_empty() {
            "-"
        } else {
            &self.namespace
        }
    }
}

/// One offending container (or pod-level setting) of one control.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The object.
    pub object: Arc<Object>,
    /// Container name; `None` for a pod-level setting. Shared by the
    /// container's findings.
    pub container: Option<Arc<str>>,
    /// The container's image; `None` for a pod-level setting.
    pub image: Option<Arc<str>>,
    /// What is wrong.
    pub detail: Cow<'static, str>,
}

impl Finding {
    /// Write this finding as an HDF result: `status`, `code_desc`,
    /// `start_time`, `message` (`skip_message` when skipped), `resource`,
    /// `resource_id`, the keys and order of an HDF test result. The fixed
    /// text between the values comes from `glue`.
    fn write_result<W: Write>(&self, j: &mut Pretty<W>, glue: &ResultGlue, details: &mut EscapedDetail) {
        let (path, location) = self.object.json();
        let container = self.container.as_deref();
        j.element();
        j.raw(&glue.open);
        // `container <c> of <path>: <detail>`, or `<path>: <detail>`.
        if let Some(c) = container {
            j.raw("container ");
            j.escaped(c);
            j.raw(" of ");
        }
        j.raw(path);
        j.raw(": ");
        let repeated = match self.detail {
            Cow::Borrowed(text) => Some(details.of(text)),
            Cow::Owned(_) => None,
        };
        let written = match repeated {
            Some(escaped) => {
                j.raw(escaped);
                None
            }
            None => Some(j.escaped(&self.detail)),
        };
        j.raw(&glue.after_code_desc);
        match (repeated, written) {
            (Some(escaped), _) => j.raw(escaped),
            (None, Some(range)) => j.again(range),
            (None, None) => unreachable!("a detail is written one way or the other"),
        }
        j.raw(&glue.after_message);
        j.raw(location);
        // `<path>[/<container>]`.
        j.raw(&glue.after_resource);
        j.raw(path);
        if let Some(c) = container {
            j.raw("/");
            j.escaped(c);
        }
        j.raw(&glue.close);
    }
}

/// The fixed text of the HDF results of one control and status, between
/// the values: what `Pretty`'s `open`, `field`, `key` and `close` would
/// write at the depth of the results, made once per control so that a
/// result is a few block copies.
struct ResultGlue {
    /// `{`, `status` and the opening quote of `code_desc`.
    open: String,
    /// The closing quote of `code_desc`, `start_time`, and the opening
    /// quote of `message` (`skip_message`).
    after_code_desc: String,
    /// The closing quote of the message and the `resource` key.
    after_message: String,
    /// The `resource_id` key and its opening quote.
    after_resource: String,
    /// The closing quote of `resource_id` and `}`.
    close: String,
}

impl ResultGlue {
    /// The glue for results written as elements of the open array of `j`;
    /// `start_time` is already a JSON string.
    fn new<W: Write>(j: &Pretty<W>, status: &ResultStatus, start_time: &str) -> Self {
        let outer = j.indentation(0);
        let inner = j.indentation(1);
        let message = if *status == ResultStatus::Skipped { "skip_message" } else { "message" };
        ResultGlue {
            open: format!("{{\n{inner}\"status\": {},\n{inner}\"code_desc\": \"", quoted(status.as_str())),
            after_code_desc: format!("\",\n{inner}\"start_time\": {start_time},\n{inner}\"{message}\": \""),
            after_message: format!("\",\n{inner}\"resource\": "),
            after_resource: format!(",\n{inner}\"resource_id\": \""),
            close: format!("\"\n{outer}}}"),
        }
    }
}

/// The escaped text of the last fixed detail (`Cow::Borrowed`) written: the
/// results of a control mostly repeat one, so it is escaped once per run of
/// equal details instead of once per result.
#[derive(Default)]
struct EscapedDetail {
    text: &'static str,
    escaped: String,
}

impl EscapedDetail {
    /// The fixed detail `text`, escaped.
    fn of(&mut self, text: &'static str) -> &str {
        if self.text != text || self.escaped.is_empty() {
            self.text = text;
            self.escaped = escape_parts(&[text]);
        }
        &self.escaped
    }
}

/// A source that could not be read (a forbidden namespace, say); the scan goes on.
#[derive(Debug, Clone, Serialize)]
pub struct SourceError {
    /// The namespace or file concerned.
    pub source: String,
    /// A short reason (`forbidden`, `error`).
    pub reason: String,
    /// The full message.
    pub message: String,
}

/// How one control's results stand.
#[derive(Debug, Default)]
struct ControlResults {
    failed: Vec<Finding>,
    /// Containers whose outcome the spec cannot decide.
    unknown: Vec<Finding>,
}

impl ControlResults {
    fn append(&mut self, later: ControlResults) {
        self.failed.extend(later.failed);
        self.unknown.extend(later.unknown);
    }
}

/// Threads that read manifests at most.
const READ_THREADS: usize = 8;

/// Posture control id for `:latest` or untagged images.
pub const LATEST_ID: &str = "posture-image-latest";
/// Posture control id for containers running as root.
pub const ROOT_ID: &str = "posture-run-as-root";
/// Posture control id for sources (namespaces) that could not be read.
pub const SOURCES_ID: &str = "posture-sources-readable";

/// The accumulated results of a posture scan.
#[derive(Debug)]
pub struct Scan {
    level: Level,
    latest: ControlResults,
    root: ControlResults,
    /// The checks of `level`, in [`checks_for`] order.
    checks: Vec<&'static Check>,
    /// One entry per check of `level`, in [`checks_for`] order.
    pss: Vec<ControlResults>,
    /// Source errors recorded so far.
    pub errors: Vec<SourceError>,
    /// Objects that carried a pod spec.
    pub objects: usize,
    /// Containers checked (all three kinds).
    pub containers: usize,
    /// Objects that carry no pod spec (Services, ConfigMaps, …).
    pub ignored_objects: usize,
    /// Namespaces (live) or files (manifests) read.
    pub sources: usize,
    /// The shared names of the current workload's containers (see `Names`),
    /// kept between workloads to save its allocation.
    shared: Vec<Option<(Arc<str>, Arc<str>)>>,
}

/// What the HDF document says about the run.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// What was scanned (`live cluster`, `manifests: …`).
    pub target: &'a str,
    /// When the scan started (RFC 3339).
    pub start_time: &'a str,
    /// Seconds the scan took.
    pub duration: f64,
}

/// The name and image of each container of one workload, made shared
/// strings when the container's first finding needs them, so that its
/// further findings cost no copy.
struct Names<'a, 's> {
    view: PodView<'a>,
    /// One slot per container, in visiting order (a buffer kept by the scan).
    shared: &'s mut Vec<Option<(Arc<str>, Arc<str>)>>,
}

impl<'a, 's> Names<'a, 's> {
    fn new(view: PodView<'a>, shared: &'s mut Vec<Option<(Arc<str>, Arc<str>)>>) -> Self {
        let s = view.spec;
        shared.clear();
        shared.resize(s.init_containers.len() + s.containers.len() + s.ephemeral_containers.len(), None);
        Names { view, shared }
    }

    /// Name and image of container `i` (in visiting order).
    fn get(&mut self, i: usize) -> (Arc<str>, Arc<str>) {
        let view = self.view;
        self.shared[i]
            .get_or_insert_with(|| {
                let c = view.containers().nth(i).expect("a container of the workload");
                (Arc::from(c.name.as_str()), Arc::from(c.image.as_str()))
            })
            .clone()
    }
}

/// `<path>:<line>`, without the formatting machinery (once per object).
fn file_location(path: &str, line: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = line;
    loop {
        at -= 1;
        // A digit: `n % 10` is below 10.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[at..]).expect("ASCII digits");
    let mut out = String::with_capacity(path.len() + 1 + digits.len());
    out.push_str(path);
    out.push(':');
    out.push_str(digits);
    out
}

/// `image <image:?> <what>`: the `Debug` quoting written directly when the
/// reference has nothing it would escape (printable ASCII without `"` or `\`).
fn image_detail(image: &str, what: &str) -> String {
    if image.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        let mut out = String::with_capacity(image.len() + what.len() + 9);
        out.push_str("image \"");
        out.push_str(image);
        out.push_str("\" ");
        out.push_str(what);
        out
    } else {
        format!("image {image:?} {what}")
    }
}

impl Scan {
    /// An empty scan enforcing the Pod Security Standards at `level`.
    pub fn new(level: Level) -> Self {
        Scan {
            level,
            latest: ControlResults::default(),
            root: ControlResults::default(),
            checks: checks_for(level).collect(),
            pss: checks_for(level).map(|_| ControlResults::default()).collect(),
            errors: Vec::new(),
            objects: 0,
            containers: 0,
            ignored_objects: 0,
            sources: 0,
            shared: Vec::new(),
        }
    }

    /// Scan every object of the manifest `files` (as [`manifest::expand`]
    /// gives them).
    pub fn of_manifests(level: Level, files: &[String]) -> crate::Result<Scan> {
        // Parsing is most of a manifest scan's time and files are
        // independent: runs of them are read on every CPU (a few at most;
        // more threads only split the same disk) and joined in order.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(READ_THREADS);
        let (parts, totals) =
            manifest::read_all_parallel(files, threads, || Scan::new(level), |s, w, origin| s.add(&w, origin))?;
        // The first run's scan takes the later ones in, without a copy of its own.
        let mut parts = parts.into_iter();
        let mut scan = parts.next().unwrap_or_else(|| Scan::new(level));
        for part in parts {
            scan.append(part);
        }
        scan.sources = totals.files;
        scan.ignored_objects = totals.ignored;
        Ok(scan)
    }

    /// The Pod Security Standards level enforced.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Check one workload.
    pub fn add(&mut self, w: &Workload, origin: &Origin) {
        self.objects += 1;
        let location = match origin {
            Origin::File { path, line } => file_location(path, *line),
            Origin::Live => format!("k8s/{}", w.path()),
        };
        let object = Arc::new(Object::new(w.namespace.clone(), w.kind.clone(), w.name.clone(), location));
        let view = w.view();
        let mut shared = std::mem::take(&mut self.shared);
        let mut names = Names::new(view, &mut shared);
        let mut finding = |container: Option<usize>, detail: Cow<'static, str>| {
            let (container, image) = container.map(|i| names.get(i)).unzip();
            Finding { object: object.clone(), container, image, detail }
        };
        for (i, c) in view.containers().enumerate() {
            self.containers += 1;
            let p = pinning(&c.image);
            if p.floats() {
                let detail = match p {
                    Pinning::Latest => image_detail(&c.image, "uses the tag latest").into(),
                    Pinning::Empty => "no image is set".into(),
                    _ => image_detail(&c.image, "has no tag (the runtime pulls latest)").into(),
                };
                self.latest.failed.push(finding(Some(i), detail));
            }
            match run_as(&w.spec, c) {
                RunAs::Root => self.root.failed.push(finding(Some(i), "runs as root (runAsUser=0)".into())),
                RunAs::Unknown => self.root.unknown.push(finding(
                    Some(i),
                    "user unknown from the spec: neither runAsUser nor runAsNonRoot=true is set, so the image's USER decides"
                        .into(),
                )),
                RunAs::NonRoot | RunAs::RootInUserNamespace => {}
            }
        }
        let mut found: Vec<Violation> = Vec::new();
        for (check, results) in self.checks.iter().zip(&mut self.pss) {
            found.clear();
            (check.eval)(&view, &mut found);
            for v in found.drain(..) {
                let container = match &v.subject {
                    Subject::Pod => None,
                    Subject::Container(name) => view.containers().position(|c| c.name == *name),
                };
                results.failed.push(finding(container, v.detail));
            }
        }
        self.shared = shared;
    }

    /// Append `later`'s results after this scan's, as if its workloads had
    /// been added after these: how scans of consecutive runs of files (read
    /// on threads of their own) become one.
    pub fn append(&mut self, later: Scan) {
        assert_eq!(self.level, later.level, "scans of one run enforce one level");
        self.latest.append(later.latest);
        self.root.append(later.root);
        for (mine, theirs) in self.pss.iter_mut().zip(later.pss) {
            mine.append(theirs);
        }
        self.errors.extend(later.errors);
        self.objects += later.objects;
        self.containers += later.containers;
        self.ignored_objects += later.ignored_objects;
        self.sources += later.sources;
    }

    /// Containers with a floating image.
    pub fn latest_tag(&self) -> &[Finding] {
        &self.latest.failed
    }

    /// Containers that run as root.
    pub fn root(&self) -> &[Finding] {
        &self.root.failed
    }

    /// Containers whose user the spec does not decide.
    pub fn unknown_user(&self) -> &[Finding] {
        &self.root.unknown
    }

    /// Offending settings of the Pod Security Standards check `id`.
    pub fn pss_failures(&self, id: &str) -> &[Finding] {
        checks_for(self.level).zip(&self.pss).find(|(c, _)| c.id == id).map_or(&[], |(_, r)| &r.failed)
    }

    /// Write the HDF document (InSpec exec JSON): one control per check,
    /// one result per offence, written straight from the findings in the
    /// layout `serde_json::to_writer_pretty` gives the HDF types.
    pub fn write_hdf(&self, run: &RunInfo<'_>, out: impl Write) -> std::io::Result<()> {
        // The same in every result: escaped once.
        let start = &quoted(run.start_time);
        let version = env!("CARGO_PKG_VERSION");
        let mut j = Pretty::new(out);
        j.open(b'{');
        j.key("platform");
        j.open(b'{');
        j.field("name", "kubernetes");
        j.field("release", "");
        j.field("target_id", run.target);
        j.field("scan", "posture");
        j.close(b'}');
        j.key("profiles");
        j.open(b'[');
        j.element();
        j.open(b'{');
        j.field("name", "kscan-posture");
        j.field(
            "title",
            &format!("kscan posture: image pinning, root users, Pod Security Standards ({})", self.level.as_str()),
        );
        j.field("version", version);
        j.field(
            "summary",
            &format!(
                "{} objects, {} containers, {} sources, {} source errors",
                self.objects,
                self.containers,
                self.sources,
                self.errors.len()
            ),
        );
        j.field("sha256", "");
        for empty in ["supports", "attributes", "groups"] {
            j.key(empty);
            j.raw("[]");
        }
        j.field("status", "loaded");
        j.key("controls");
        j.open(b'[');
        let title = "Container images must be pinned to a tag other than latest or a digest";
        let head = ControlHead { id: LATEST_ID, title, impact: 0.5, nist: &["CM-2", "CM-6", "SI-7"], level: None };
        self.write_control(&mut j, &head, &self.latest, start)?;
        let head = ControlHead {
            id: ROOT_ID,
            title: "Containers must not run as root",
            impact: 0.7,
            nist: &["AC-6(10)", "CM-6"],
            level: None,
        };
        self.write_control(&mut j, &head, &self.root, start)?;
        let head = ControlHead {
            id: SOURCES_ID,
            title: "Every selected namespace could be read",
            impact: 0.3,
            nist: &["CA-7"],
            level: None,
        };
        head.write(&mut j);
        for e in &self.errors {
            j.element();
            j.open(b'{');
            j.field("status", ResultStatus::Skipped.as_str());
            j.key("code_desc");
            j.string_of(&[&e.source, ": ", &e.reason]);
            j.key("start_time");
            j.raw(start);
            j.field("skip_message", &e.message);
            j.key("resource");
            j.string_of(&["k8s/", &e.source]);
            j.field("resource_id", &e.source);
            j.close(b'}');
        }
        if self.errors.is_empty() {
            write_passed(&mut j, &format!("{} sources read, none failed", self.sources), start);
        }
        j.close(b']');
        j.close(b'}');
        for (check, results) in checks_for(self.level).zip(&self.pss) {
            let id = format!("pss-{}", check.id);
            let head = ControlHead {
                id: &id,
                title: check.title,
                impact: check.impact,
                nist: check.nist,
                level: Some(check.level),
            };
            self.write_control(&mut j, &head, results, start)?;
        }
        j.close(b']');
        j.close(b'}');
        j.close(b']');
        j.key("statistics");
        j.open(b'{');
        j.key("duration");
        j.number(run.duration);
        j.close(b'}');
        j.field("version", version);
        j.close(b'}');
        j.finish().map(drop)
    }

    /// One control of the HDF document: its failed results, then its skipped
    /// ones; one passed result when there are none.
    fn write_control<W: Write>(
        &self,
        j: &mut Pretty<W>,
        head: &ControlHead<'_>,
        r: &ControlResults,
        start: &str,
    ) -> std::io::Result<()> {
        head.write(j);
        let mut details = EscapedDetail::default();
        if !r.failed.is_empty() {
            let glue = ResultGlue::new(j, &ResultStatus::Failed, start);
            for f in &r.failed {
                f.write_result(j, &glue, &mut details);
                j.spill()?;
            }
        }
        if !r.unknown.is_empty() {
            let glue = ResultGlue::new(j, &ResultStatus::Skipped, start);
            for f in &r.unknown {
                f.write_result(j, &glue, &mut details);
                j.spill()?;
            }
        }
        if r.failed.is_empty() && r.unknown.is_empty() {
            let desc = format!("{} containers in {} objects checked: none offends", self.containers, self.objects);
            write_passed(j, &desc, start);
        }
        j.close(b']');
        j.close(b'}');
        Ok(())
    }

    /// Write the JSON of the original cluster scanner (`--format seed-json`):
    /// `{latest_tag_containers, root_containers, unknown_user_containers,
    /// summary, errors}`, rows written straight from the findings.
    pub fn write_seed_json(&self, out: impl Write) -> std::io::Result<()> {
        let mut j = Pretty::new(out);
        j.open(b'{');
        for (key, rows) in [
            ("latest_tag_containers", &self.latest.failed),
            ("root_containers", &self.root.failed),
            ("unknown_user_containers", &self.root.unknown),
        ] {
            j.key(key);
            j.open(b'[');
            for f in rows {
                j.element();
                j.open(b'{');
                j.field("namespace", &f.object.namespace);
                j.field("kind", &f.object.kind);
                j.field("pod", &f.object.name);
                for (key, value) in [("container", &f.container), ("image", &f.image)] {
                    j.key(key);
                    match value {
                        Some(v) => j.string(v),
                        None => j.raw("null"),
                    }
                }
                j.close(b'}');
                j.spill()?;
            }
            j.close(b']');
        }
        j.key("summary");
        j.open(b'{');
        for (key, n) in [
            ("objects", self.objects),
            ("containers", self.containers),
            ("latest_tag", self.latest.failed.len()),
            ("root", self.root.failed.len()),
            ("unknown_user", self.root.unknown.len()),
            ("sources", self.sources),
            ("errors", self.errors.len()),
        ] {
            j.key(key);
            j.number(n);
        }
        j.close(b'}');
        j.key("errors");
        j.open(b'[');
        for e in &self.errors {
            j.element();
            j.open(b'{');
            j.field("source", &e.source);
            j.field("reason", &e.reason);
            j.field("message", &e.message);
            j.close(b'}');
        }
        j.close(b']');
        j.close(b'}');
        j.finish().map(drop)
    }
}

/// A control's keys up to its results: `id`, `title`, `impact`, `refs`,
/// `tags` (`nist`, and `pss_level` for PSS checks), `source_location`.
struct ControlHead<'a> {
    id: &'a str,
    title: &'a str,
    impact: f64,
    nist: &'a [&'a str],
    level: Option<Level>,
}

impl ControlHead<'_> {
    /// Open the control and write its keys, up to the open `results` array.
    fn write<W: Write>(&self, j: &mut Pretty<W>) {
        j.element();
        j.open(b'{');
        j.field("id", self.id);
        j.field("title", self.title);
        j.key("impact");
        j.number(self.impact);
        j.key("refs");
        j.raw("[]");
        j.key("tags");
        j.open(b'{');
        j.key("nist");
        j.open(b'[');
        for n in self.nist {
            j.element();
            j.string(n);
        }
        j.close(b']');
        if let Some(level) = self.level {
            j.field("pss_level", level.as_str());
        }
        j.close(b'}');
        j.key("source_location");
        j.open(b'{');
        j.field("ref", "src/posture");
        j.close(b'}');
        j.key("results");
        j.open(b'[');
    }
}

/// A passed HDF result: `status`, `code_desc`, `start_time` (already a JSON string).
fn write_passed<W: Write>(j: &mut Pretty<W>, code_desc: &str, start: &str) {
    j.element();
    j.open(b'{');
    j.field("status", ResultStatus::Passed.as_str());
    j.field("code_desc", code_desc);
    j.key("start_time");
    j.raw(start);
    j.close(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::spec::RawObject;
    use crate::posture::workload::extract;

    fn hdf_text(s: &Scan) -> String {
        let mut buf = Vec::new();
        s.write_hdf(&RunInfo { target: "m", start_time: "t", duration: 0.0 }, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn written(s: &Scan) -> crate::hdf::Execution {
        serde_json::from_str(&hdf_text(s)).unwrap()
    }

    fn scan(json: &str, level: Level) -> Scan {
        let mut s = Scan::new(level);
        let o: RawObject = serde_json::from_str(json).unwrap();
        extract(o, &mut |w| s.add(&w, &Origin::File { path: "m.yaml".into(), line: 3 }));
        s
    }

    #[test]
    fn appended_scans_write_what_one_scan_of_both_writes() {
        let pods = [
            r#"{"kind":"Pod","metadata":{"name":"a","namespace":"ns"},"spec":{"hostPID":true,
                "containers":[{"name":"c","image":"nginx","securityContext":{"runAsUser":0}}]}}"#,
            r#"{"kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"d","image":"x:latest"}]}}"#,
            r#"{"kind":"Pod","metadata":{"name":"c"},"spec":{"containers":[{"name":"e","image":"x:1",
                "securityContext":{"privileged":true,"runAsNonRoot":true}}]}}"#,
        ];
        let add = |s: &mut Scan, json: &str| {
            let o: RawObject = serde_json::from_str(json).unwrap();
            extract(o, &mut |w| s.add(&w, &Origin::File { path: "m.yaml".into(), line: 1 }));
        };
        let mut whole = Scan::new(Level::Restricted);
        pods.iter().for_each(|p| add(&mut whole, p));
        for cut in 0..=pods.len() {
            let (mut first, mut second) = (Scan::new(Level::Restricted), Scan::new(Level::Restricted));
            pods[..cut].iter().for_each(|p| add(&mut first, p));
            pods[cut..].iter().for_each(|p| add(&mut second, p));
            first.append(second);
            assert_eq!(hdf_text(&first), hdf_text(&whole), "cut at {cut}");
            assert_eq!((first.objects, first.containers), (3, 3));
        }
    }

    #[test]
    fn findings_name_namespace_kind_object_and_container() {
        let s = scan(
            r#"{"kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{
                "hostNetwork":true,
                "initContainers":[{"name":"i","image":"busybox","securityContext":{"runAsUser":0}}],
                "containers":[{"name":"c","image":"host:5000/app@sha256:00","securityContext":{"runAsNonRoot":true}}]}}"#,
            Level::Baseline,
        );
        assert_eq!(s.latest_tag().len(), 1);
        assert_eq!(s.latest_tag()[0].container.as_deref(), Some("i"));
        assert_eq!(s.root()[0].container.as_deref(), Some("i"));
        assert!(s.unknown_user().is_empty());
        assert_eq!(s.pss_failures("hostNamespaces")[0].object.location, "m.yaml:3");
        let hdf = written(&s);
        let controls = &hdf.profiles[0].controls;
        assert_eq!(controls.len(), 3 + 12);
        let host = controls.iter().find(|c| c.id == "pss-hostNamespaces").unwrap();
        assert_eq!(host.results()[0].code_desc, "ns/Pod/p: hostNetwork=true");
        let latest = &controls[0].results()[0];
        assert_eq!(
            latest.code_desc,
            "container i of ns/Pod/p: image \"busybox\" has no tag (the runtime pulls latest)"
        );
        let privileged = controls.iter().find(|c| c.id == "pss-privileged").unwrap();
        assert_eq!(privileged.results()[0].status, Some(ResultStatus::Passed));
        let mut buf = Vec::new();
        s.write_seed_json(&mut buf).unwrap();
        let seed: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(seed["root_containers"][0]["pod"], "p");
        assert_eq!(seed["summary"]["containers"], 2);
    }

    #[test]
    fn unreadable_sources_are_skipped_results() {
        let mut s = Scan::new(Level::Baseline);
        s.errors.push(SourceError {
            source: "kube-system".into(),
            reason: "forbidden".into(),
            message: "HTTP 403".into(),
        });
        let hdf = written(&s);
        let c = hdf.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results().len(), 1);
        assert_eq!(c.results()[0].status, Some(ResultStatus::Skipped));
        assert_eq!(c.results()[0].code_desc, "kube-system: forbidden");
        let clean = written(&Scan::new(Level::Baseline));
        let c = clean.profiles[0].controls.iter().find(|c| c.id == SOURCES_ID).unwrap();
        assert_eq!(c.results()[0].status, Some(ResultStatus::Passed));
    }

    #[test]
    fn unknown_users_are_skipped_results_not_passes() {
        let s = scan(
            r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"a:1"}]}}"#,
            Level::Restricted,
        );
        let hdf = written(&s);
        let root = hdf.profiles[0].controls.iter().find(|c| c.id == ROOT_ID).unwrap();
        assert_eq!(root.results().len(), 1);
        assert_eq!(root.results()[0].status, Some(ResultStatus::Skipped));
    }
}
