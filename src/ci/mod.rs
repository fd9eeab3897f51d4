//! CI platforms: which one kscan runs in, and how its results are published
//! where that platform shows them.
//!
//! `--ci github|gitlab|jenkins|circleci|codebuild|none` picks the platform;
//! without it the platform is detected from the variables each CI system
//! sets (`GITHUB_ACTIONS`, `GITLAB_CI`, `JENKINS_URL`, `CIRCLECI`,
//! `CODEBUILD_BUILD_ID`). A platform adds the report formats it needs to
//! `--format` and, after the reports are written, publishes them
//! ([`publish`]):
//!
//! | platform | formats added | published |
//! |---|---|---|
//! | github | junit, sarif, github | annotations on stdout, summary appended to `$GITHUB_STEP_SUMMARY`, outputs to `$GITHUB_OUTPUT` |
//! | gitlab | junit, codequality | `kscan.env` (dotenv) beside the reports, paths printed |
//! | jenkins | junit, markdown, sarif | paths printed (SARIF for warnings-ng's `recordIssues`) |
//! | circleci, codebuild | junit, markdown | paths printed |
//! | none | — | — |
//!
//! The outputs ([`outputs::Outputs`]) are the same everywhere: `verdict`,
//! `compliance`, `failed`, the paths `sarif`, `junit`, `hdf`, `manifest`,
//! and `exit-code`. A run that ends without results (exit 2 or 3) publishes
//! them too (`verdict` `error`), through [`publish::Publisher::fail`].

pub mod github_api;
pub mod outputs;
pub mod publish;

use std::fmt;

use crate::report::Format;

/// A CI platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// GitHub Actions.
    Github,
    /// GitLab CI/CD.
    Gitlab,
    /// Jenkins.
    Jenkins,
    /// CircleCI.
    Circleci,
    /// AWS CodeBuild.
    Codebuild,
    /// No CI: write only the formats asked for.
    None,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Github => "github",
            Platform::Gitlab => "gitlab",
            Platform::Jenkins => "jenkins",
            Platform::Circleci => "circleci",
            Platform::Codebuild => "codebuild",
            Platform::None => "none",
        })
    }
}

/// The variable each platform sets, and whether any non-empty value counts
/// (`JENKINS_URL`, `CODEBUILD_BUILD_ID`) or only `true`.
const DETECT: [(&str, Platform, bool); 5] = [
    ("GITHUB_ACTIONS", Platform::Github, false),
    ("GITLAB_CI", Platform::Gitlab, false),
    ("JENKINS_URL", Platform::Jenkins, true),
    ("CIRCLECI", Platform::Circleci, false),
    ("CODEBUILD_BUILD_ID", Platform::Codebuild, true),
];

impl Platform {
    /// The platform the environment says this is, in the order of
    /// [`DETECT`]; `None` when no CI variable is set.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> Platform {
        DETECT
            .iter()
            .find(|(var, _, any)| match env(var) {
                Some(v) if *any => !v.trim().is_empty(),
                Some(v) => v.trim().eq_ignore_ascii_case("true"),
                None => false,
            })
            .map_or(Platform::None, |(_, p, _)| *p)
    }

    /// The report formats this platform publishes.
    pub fn formats(self) -> &'static [Format] {
        match self {
            Platform::Github => &[Format::Junit, Format::Sarif, Format::Github],
            Platform::Gitlab => &[Format::Junit, Format::CodeQuality],
            Platform::Jenkins => &[Format::Junit, Format::Markdown, Format::Sarif],
            Platform::Circleci | Platform::Codebuild => &[Format::Junit, Format::Markdown],
            Platform::None => &[],
        }
    }
}

/// The `--ci` flag, shared by the commands that publish results.
#[derive(Debug, Clone, clap::Args)]
pub struct CiArgs {
    /// Publish for this CI platform (default: detected from GITHUB_ACTIONS,
    /// GITLAB_CI, JENKINS_URL, CIRCLECI, CODEBUILD_BUILD_ID; `none` turns it off).
    #[arg(long, value_enum, value_name = "PLATFORM", env = "KSCAN_CI")]
    pub ci: Option<Platform>,
}

impl CiArgs {
    /// The platform given, else the detected one.
    pub fn platform(&self) -> Platform {
        self.ci.unwrap_or_else(|| Platform::detect(|k| std::env::var(k).ok()))
    }
}

/// `asked` followed by the platform's formats that are not in it yet.
pub fn with_platform_formats(asked: &[Format], platform: Platform) -> Vec<Format> {
    let mut all = asked.to_vec();
    for f in platform.formats() {
        if !all.contains(f) {
            all.push(f.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn each_platform_is_detected_from_its_variable() {
        assert_eq!(Platform::detect(env(&[("GITHUB_ACTIONS", "true")])), Platform::Github);
        assert_eq!(Platform::detect(env(&[("GITLAB_CI", "true")])), Platform::Gitlab);
        assert_eq!(Platform::detect(env(&[("JENKINS_URL", "http://ci:8080/")])), Platform::Jenkins);
        assert_eq!(Platform::detect(env(&[("CIRCLECI", "true")])), Platform::Circleci);
        assert_eq!(Platform::detect(env(&[("CODEBUILD_BUILD_ID", "p:1234")])), Platform::Codebuild);
        assert_eq!(Platform::detect(env(&[])), Platform::None);
    }

    #[test]
    fn false_or_empty_values_do_not_count() {
        assert_eq!(Platform::detect(env(&[("GITHUB_ACTIONS", "false")])), Platform::None);
        assert_eq!(Platform::detect(env(&[("JENKINS_URL", " ")])), Platform::None);
        assert_eq!(Platform::detect(env(&[("GITHUB_ACTIONS", ""), ("CIRCLECI", "true")])), Platform::Circleci);
    }

    #[test]
    fn platform_formats_are_added_once() {
        let all = with_platform_formats(&[Format::Sarif, Format::Markdown], Platform::Github);
        assert_eq!(all, [Format::Sarif, Format::Markdown, Format::Junit, Format::Github]);
        assert_eq!(with_platform_formats(&[Format::Junit], Platform::None), [Format::Junit]);
    }
}
