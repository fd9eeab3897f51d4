//! From a scan request to a validated [`Plan`], once for every front end.
//!
//! `kscan scan` (flags) and `kscan serve` (`POST /api/v1/scans`) ask for the
//! same things in different words. Both fill in an [`Asked`] and call
//! [`Asked::plan`]: names are checked as RFC 1123, pod and selector, engine,
//! profile, strategy and image are checked against each other, and nothing
//! reaches the cluster before that. A refusal is an [`Invalid`] naming the
//! [`Field`]; each front end says which of its words that field is (`--pod`,
//! `target.pod`), so the messages speak the caller's language.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Plan;
use crate::cluster::access::TokenTtl;
use crate::engine::cinc::Cinc;
use crate::engine::{Engine, EngineKind};
use crate::error::Error;
use crate::strategy::{Strategy, StrategyConfig};
use crate::target::{Label, Request, Selection, Subdomain};

/// The longest label selector a request may give.
pub const MAX_SELECTOR: usize = 1024;

/// Which part of a request a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The namespace.
    Namespace,
    /// The pod.
    Pod,
    /// The label selector.
    Selector,
    /// The container.
    Container,
    /// The strategy.
    Strategy,
    /// The engine (and the program that runs it).
    Engine,
    /// The profile of the cinc engine.
    Profile,
    /// The image the sidecar scans instead of the target's.
    Image,
}

impl Field {
    /// What `kscan scan` calls the field: its flag.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Namespace => "--namespace",
            Field::Pod => "--pod",
            Field::Selector => "--selector",
            Field::Container => "--container",
            Field::Strategy => "--strategy",
            Field::Engine => "--engine",
            Field::Profile => "--profile",
            Field::Image => "--image",
        }
    }
}

/// A refused request: which field, and why (an input error, exit 2).
#[derive(Debug)]
pub struct Invalid {
    /// The field at fault.
    pub field: Field,
    /// What is wrong and what to do.
    pub error: Error,
}

/// What a front end calls each [`Field`] (`--pod`, `target.pod`).
pub type Names = fn(Field) -> &'static str;

/// A scan request in the words every front end shares.
#[derive(Debug, Clone)]
pub struct Asked<'a> {
    /// Namespace of the pods.
    pub namespace: &'a str,
    /// One pod by name.
    pub pod: Option<&'a str>,
    /// Every running pod matching this selector.
    pub selector: Option<&'a str>,
    /// The container (default: the pod's default one, or its only one).
    pub container: Option<&'a str>,
    /// How to reach the container.
    pub strategy: Strategy,
    /// What runs the checks.
    pub engine: EngineKind,
    /// The profile directory for the cinc engine.
    pub profile: Option<&'a Path>,
    /// The CINC Auditor / InSpec program (default: found on PATH).
    pub engine_bin: Option<&'a Path>,
    /// The scanner image for debug and sidecar.
    pub scanner_image: &'a str,
    /// The UID the scanner container runs as.
    pub scanner_user: Option<u32>,
    /// With sidecar: the image to scan instead of the target's.
    pub image: Option<&'a str>,
    /// With debug: refuse a pod that already holds this many kscan scanner
    /// containers.
    pub max_ephemeral: u32,
    /// Limit for the whole run.
    pub timeout: Duration,
    /// Lifetime of the scoped token.
    pub ttl: TokenTtl,
    /// Targets scanned at once.
    pub concurrency: usize,
    /// Where the HDF files go.
    pub out_dir: PathBuf,
}

/// Limit for each command a probe runs in a target, whatever the run's limit.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

impl Asked<'_> {
    /// Check everything that needs no cluster and build the plan; `names`
    /// says what the caller calls each field.
    pub fn plan(&self, names: Names) -> Result<Plan, Invalid> {
        let refuse = |field, message: String| Invalid { field, error: Error::input(message) };
        let wrap = |field| move |error| Invalid { field, error };
        let n = names;
        let namespace = Label::parse("namespace", self.namespace).map_err(wrap(Field::Namespace))?;
        let pods = match (self.pod, self.selector) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    Field::Selector,
                    format!("give {} or {}, not both", n(Field::Pod), n(Field::Selector)),
                ))
            }
            (Some(pod), None) => Selection::Pod(Subdomain::parse("pod", pod).map_err(wrap(Field::Pod))?),
            (None, Some(s)) if !s.trim().is_empty() && s.len() <= MAX_SELECTOR => Selection::Selector(s.to_owned()),
            (None, Some(_)) => {
                return Err(refuse(
                    Field::Selector,
                    format!("{} is empty or longer than {MAX_SELECTOR} characters", n(Field::Selector)),
                ))
            }
            (None, None) => {
                return Err(refuse(
                    Field::Pod,
                    format!("give {} (a pod name) or a non-empty {} (labels)", n(Field::Pod), n(Field::Selector)),
                ))
            }
        };
        let container =
            self.container.map(|c| Label::parse("container", c)).transpose().map_err(wrap(Field::Container))?;
        if self.image.is_some() && self.strategy != Strategy::Sidecar {
            return Err(refuse(
                Field::Image,
                format!("{} only applies to {} sidecar", n(Field::Image), n(Field::Strategy)),
            ));
        }
        let engine = match self.engine {
            EngineKind::Builtin => {
                if self.profile.is_some() {
                    return Err(refuse(
                        Field::Profile,
                        format!(
                            "{} needs {} cinc (the builtin engine has its own checks)",
                            n(Field::Profile),
                            n(Field::Engine)
                        ),
                    ));
                }
                Engine::Builtin
            }
            EngineKind::Cinc => {
                if !self.strategy.supports_cinc() {
                    return Err(refuse(
                        Field::Strategy,
                        format!(
                            "{} cinc runs with {s} exec only (CINC Auditor reaches the target over exec; auto means \
                             exec then); got {s} {}",
                            n(Field::Engine),
                            self.strategy,
                            s = n(Field::Strategy),
                        ),
                    ));
                }
                let Some(profile) = self.profile else {
                    return Err(refuse(
                        Field::Profile,
                        format!("{} cinc needs {}", n(Field::Engine), n(Field::Profile)),
                    ));
                };
                Engine::Cinc(Cinc::new(self.engine_bin, profile, self.timeout).map_err(wrap(Field::Engine))?)
            }
        };
        Ok(Plan {
            request: Request { namespace, pods, container },
            strategy: StrategyConfig {
                // CINC reaches the target over exec: auto means exec then.
                kind: if matches!(engine, Engine::Cinc(_)) { Strategy::Exec } else { self.strategy },
                scanner_image: self.scanner_image.to_owned(),
                scanner_user: self.scanner_user.map(i64::from),
                image: self.image.map(str::to_owned),
                max_ephemeral: self.max_ephemeral,
            },
            engine,
            ttl: self.ttl,
            timeout: self.timeout,
            command_timeout: self.timeout.min(COMMAND_TIMEOUT),
            concurrency: self.concurrency.max(1),
            out_dir: self.out_dir.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked<'static> {
        Asked {
            namespace: "shop",
            pod: Some("web-0"),
            selector: None,
            container: None,
            strategy: Strategy::Auto,
            engine: EngineKind::Builtin,
            profile: None,
            engine_bin: None,
            scanner_image: "scanner:1",
            scanner_user: None,
            image: None,
            max_ephemeral: crate::strategy::DEFAULT_MAX_EPHEMERAL,
            timeout: Duration::from_secs(600),
            ttl: TokenTtl::DEFAULT,
            concurrency: 4,
            out_dir: "out".into(),
        }
    }

    fn refused(a: Asked<'_>) -> (Field, String) {
        let e = a.plan(Field::flag).unwrap_err();
        assert_eq!(e.error.exit_code(), 2);
        (e.field, e.error.to_string())
    }

    #[test]
    fn a_good_request_becomes_a_plan() {
        let plan = asked().plan(Field::flag).unwrap();
        assert_eq!(plan.request.namespace.as_str(), "shop");
        assert_eq!(plan.strategy.kind, Strategy::Auto);
        assert_eq!(plan.command_timeout, COMMAND_TIMEOUT);
    }

    #[test]
    fn each_refusal_names_its_field_in_the_callers_words() {
        let (f, m) = refused(Asked { namespace: "Shop", ..asked() });
        assert_eq!(f, Field::Namespace);
        assert!(m.contains("\"Shop\" is not a valid RFC 1123 label"), "{m}");
        let (f, m) = refused(Asked { pod: None, ..asked() });
        assert_eq!((f, m.as_str()), (Field::Pod, "give --pod (a pod name) or a non-empty --selector (labels)"));
        let (f, _) = refused(Asked { selector: Some("app=web"), ..asked() });
        assert_eq!(f, Field::Selector);
        let (f, _) = refused(Asked { pod: None, selector: Some(" "), ..asked() });
        assert_eq!(f, Field::Selector);
        let (f, m) = refused(Asked { image: Some("x:1"), ..asked() });
        assert_eq!((f, m.as_str()), (Field::Image, "--image only applies to --strategy sidecar"));
        let (f, m) = refused(Asked { profile: Some(Path::new("p")), ..asked() });
        assert_eq!(f, Field::Profile);
        assert!(m.starts_with("--profile needs --engine cinc"), "{m}");
        let (f, m) = refused(Asked { engine: EngineKind::Cinc, strategy: Strategy::Debug, ..asked() });
        assert_eq!(f, Field::Strategy);
        assert!(m.ends_with("got --strategy debug"), "{m}");
        let (f, _) = refused(Asked { container: Some("App"), ..asked() });
        assert_eq!(f, Field::Container);
    }
}
