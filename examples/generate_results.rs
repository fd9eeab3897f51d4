//! Writes the example results in `examples/results/` (realistic InSpec exec
//! JSON of kscan's container baseline, an overlay and a posture scan), or a
//! large synthetic file for the report benchmark.
//!
//! ```text
//! cargo run --example generate_results                       # rewrite examples/results/*.json
//! cargo run --release --example generate_results -- --big 100 big.json   # ~100 MB
//! ```
//!
//! Every document goes through kscan's own model ([`Execution`]) and loader
//! ([`ResultSet::new`]) before it is written, so the examples are what kscan
//! itself reads and writes. `tests/reports.rs` checks that the committed
//! files are this program's output.

use std::path::{Path, PathBuf};

use kscan::hdf::{Execution, ResultSet, Source};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A control of the catalogue: id, title, impact, NIST tags, source file,
/// description, check, fix, and the `code_desc` of each test.
struct Spec {
    id: &'static str,
    title: &'static str,
    impact: f64,
    nist: &'static [&'static str],
    file: &'static str,
    desc: &'static str,
    check: &'static str,
    fix: &'static str,
    tests: &'static [&'static str],
}

const BASELINE: &[Spec] = &[
    Spec {
        id: "kscan-passwd-perms",
        title: "/etc/passwd is owned by root and not writable by group or others",
        impact: 0.7,
        nist: &["AC-3", "CM-6 b"],
        file: "controls/filesystem.rb",
        desc: "A writable /etc/passwd lets any process in the container create accounts or change UIDs.",
        check: "stat -c '%U %a' /etc/passwd shows root and a mode of 0644 or stricter.",
        fix: "In the Dockerfile: RUN chown root:root /etc/passwd && chmod 0644 /etc/passwd",
        tests: &[
            "File /etc/passwd is expected to be owned by \"root\"",
            "File /etc/passwd is expected not to be writable by group",
            "File /etc/passwd is expected not to be writable by others",
        ],
    },
    Spec {
        id: "kscan-shadow-perms",
        title: "/etc/shadow is readable only by root and the shadow group",
        impact: 0.7,
        nist: &["AC-3", "IA-5 (1) (c)"],
        file: "controls/filesystem.rb",
        desc: "Password hashes in a readable /etc/shadow can be cracked offline.",
        check: "stat -c '%a' /etc/shadow shows 0640 or stricter.",
        fix: "In the Dockerfile: RUN chmod 0640 /etc/shadow",
        tests: &["File /etc/shadow mode is expected to cmp <= \"0640\""],
    },
    Spec {
        id: "kscan-no-root-user",
        title: "Container processes do not run as root",
        impact: 0.9,
        nist: &["AC-6 (9)", "CM-7 a"],
        file: "controls/process.rb",
        desc: "A process running as UID 0 turns any container escape into root on the node.",
        check: "No process in the container runs with UID 0.",
        fix: "Add USER 10001 to the Dockerfile and set securityContext.runAsNonRoot: true.",
        tests: &["Processes with user == \"root\" entries is expected to be empty"],
    },
    Spec {
        id: "kscan-setuid-binaries",
        title: "No unexpected setuid or setgid binaries",
        impact: 0.5,
        nist: &["AC-6 (1)", "CM-7 b"],
        file: "controls/filesystem.rb",
        desc: "Setuid binaries are the usual path from an application user to root.",
        check: "find / -xdev -perm /6000 -type f finds nothing outside the allow list.",
        fix: "RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + in the last build stage.",
        tests: &["Command: `find / -xdev -perm /6000 -type f` stdout is expected to be empty"],
    },
    Spec {
        id: "kscan-world-writable-sticky",
        title: "World-writable directories have the sticky bit",
        impact: 0.5,
        nist: &["AC-3", "CM-6 b"],
        file: "controls/filesystem.rb",
        desc: "Without the sticky bit any user may delete or replace other users' files in shared directories.",
        check: "find / -xdev -type d -perm -0002 ! -perm -1000 finds nothing.",
        fix: "chmod +t on every world-writable directory, or make it not world-writable.",
        tests: &["Command: `find / -xdev -type d -perm -0002 ! -perm -1000` stdout is expected to be empty"],
    },
    Spec {
        id: "kscan-no-ssh-server",
        title: "No SSH server is installed",
        impact: 0.7,
        nist: &["CM-7 a", "CM-7 b"],
        file: "controls/packages.rb",
        desc: "Containers are reached through the Kubernetes API; an SSH server only adds attack surface.",
        check: "The openssh-server package is not installed.",
        fix: "Remove openssh-server from the image.",
        tests: &["System Package openssh-server is expected not to be installed"],
    },
    Spec {
        id: "kscan-no-secrets-in-env",
        title: "No credentials in the environment of PID 1",
        impact: 0.9,
        nist: &["IA-5 (1) (c)", "SC-28"],
        file: "controls/process.rb",
        desc: "Environment variables are visible to anyone who can read /proc or describe the pod.",
        check: "/proc/1/environ has no PASSWORD, SECRET, TOKEN or API_KEY variables.",
        fix: "Mount credentials as files from a Secret volume instead of env.",
        tests: &["File /proc/1/environ content is expected not to match /(PASSWORD|SECRET|TOKEN|API_KEY)=/"],
    },
    Spec {
        id: "kscan-os-supported",
        title: "The OS release still receives security updates",
        impact: 0.5,
        nist: &["SI-2", "SA-22"],
        file: "controls/os.rb",
        desc: "An end-of-life distribution gets no fixes for new vulnerabilities.",
        check: "/etc/os-release names a release that is not end-of-life.",
        fix: "Rebuild the image on a supported base release.",
        tests: &["Operating system release is expected to be supported"],
    },
    Spec {
        id: "kscan-pkg-cache-clean",
        title: "Package manager caches are removed",
        impact: 0.3,
        nist: &["CM-7 a"],
        file: "controls/packages.rb",
        desc: "Package caches enlarge the image and keep downloadable packages for an attacker.",
        check: "/var/cache/apt/archives and /var/lib/apt/lists are empty.",
        fix: "End apt-get install lines with && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb",
        tests: &[
            "Directory /var/cache/apt/archives entries is expected to be empty",
            "Directory /var/lib/apt/lists entries is expected to be empty",
        ],
    },
    Spec {
        id: "kscan-ca-certificates",
        title: "CA certificates are installed",
        impact: 0.3,
        nist: &["SC-8", "SC-13"],
        file: "controls/filesystem.rb",
        desc: "Without a CA bundle, TLS clients in the container tend to be configured to skip verification.",
        check: "/etc/ssl/certs/ca-certificates.crt exists and is not empty.",
        fix: "Install ca-certificates in the image.",
        tests: &["File /etc/ssl/certs/ca-certificates.crt is expected to exist"],
    },
    Spec {
        id: "kscan-pid1-not-shell",
        title: "PID 1 is the application, not a shell",
        impact: 0.5,
        nist: &["CM-7 a"],
        file: "controls/process.rb",
        desc: "A shell as PID 1 does not forward signals, so the application is killed instead of stopped.",
        check: "/proc/1/comm is not sh, bash, dash or ash.",
        fix: "Use the exec form of ENTRYPOINT, or exec the application from the start script.",
        tests: &["Process 1 comm is expected not to be in [\"sh\", \"bash\", \"dash\", \"ash\"]"],
    },
    Spec {
        id: "kscan-tmp-noexec",
        title: "/tmp does not allow executables",
        impact: 0.3,
        nist: &["CM-6 b"],
        file: "controls/filesystem.rb",
        desc: "Dropped payloads are usually written to /tmp and run from there.",
        check: "/tmp is a separate mount with the noexec option.",
        fix: "Mount an emptyDir at /tmp and set readOnlyRootFilesystem: true.",
        tests: &["Mount /tmp options is expected to include \"noexec\""],
    },
    Spec {
        id: "kscan-sudo-absent",
        title: "sudo is not installed",
        impact: 0.5,
        nist: &["AC-6 (2)", "CM-7 a"],
        file: "controls/packages.rb",
        desc: "sudo in a container is a ready-made privilege escalation path.",
        check: "The sudo package is not installed and /usr/bin/sudo does not exist.",
        fix: "Remove sudo from the image.",
        tests: &["System Package sudo is expected not to be installed"],
    },
    Spec {
        id: "kscan-auditd",
        title: "Audit logging is enabled",
        impact: 0.0,
        nist: &["AU-2", "AU-12 c"],
        file: "controls/os.rb",
        desc: "Auditing is the node's job; inside a container this control does not apply.",
        check: "Not applicable to containers: audit the node (kube-apiserver audit policy, auditd on the host).",
        fix: "None in the image.",
        tests: &["Service auditd is expected to be running"],
    },
];

/// What happened to one control in a scan.
#[derive(Clone, Copy)]
enum Outcome {
    Pass,
    /// The first test fails with this message.
    Fail(&'static str),
    /// The first test errors: exception and message, with a backtrace.
    Error(&'static str, &'static str),
    /// Every test is skipped with this message.
    Skip(&'static str),
    /// Waived with this justification (the tests are skipped).
    Waived(&'static str),
}

const START: &str = "2026-11-02T09:14:07+00:00";

fn results(spec: &Spec, outcome: Outcome, seed: usize) -> Value {
    let run_time = |i: usize| ((seed * 7 + i * 13) % 50) as f64 / 1000.0 + 0.001;
    let results: Vec<Value> = spec
        .tests
        .iter()
        .enumerate()
        .map(|(i, code_desc)| {
            let mut r = json!({"code_desc": code_desc, "run_time": run_time(i), "start_time": START});
            let resource = code_desc.split(" is expected").next().unwrap_or(code_desc);
            r["resource"] = json!(resource);
            match outcome {
                Outcome::Pass => r["status"] = json!("passed"),
                Outcome::Fail(message) if i == 0 => {
                    r["status"] = json!("failed");
                    r["message"] = json!(message);
                }
                Outcome::Fail(_) => r["status"] = json!("passed"),
                Outcome::Error(exception, message) if i == 0 => {
                    r["status"] = json!("failed");
                    r["exception"] = json!(exception);
                    r["message"] = json!(message);
                    r["backtrace"] = json!([
                        "/opt/cinc-auditor/embedded/lib/ruby/gems/3.1.0/gems/train-3.12.7/lib/train/extras/command_wrapper.rb:89:in `run'",
                        "/opt/cinc-auditor/embedded/lib/ruby/gems/3.1.0/gems/inspec-core-6.8.1/lib/inspec/resources/file.rb:41:in `content'"
                    ]);
                }
                Outcome::Error(..) => r["status"] = json!("passed"),
                Outcome::Skip(why) => {
                    r["status"] = json!("skipped");
                    r["skip_message"] = json!(why);
                }
                Outcome::Waived(why) => {
                    r["status"] = json!("skipped");
                    r["skip_message"] = json!(format!("Skipped control due to waiver condition: {why}"));
                }
            }
            r
        })
        .collect();
    json!(results)
}

fn control(spec: &Spec, outcome: Outcome, line: usize, seed: usize, impact: Option<f64>) -> Value {
    let mut c = json!({
        "id": spec.id,
        "title": spec.title,
        "desc": spec.desc,
        "descriptions": [
            {"label": "default", "data": spec.desc},
            {"label": "check", "data": spec.check},
            {"label": "fix", "data": spec.fix}
        ],
        "impact": impact.unwrap_or(spec.impact),
        "refs": [],
        "tags": {"nist": spec.nist, "cci": [], "kscan": {"category": spec.file.trim_start_matches("controls/").trim_end_matches(".rb")}},
        "code": format!("control '{}' do\n  impact {}\n  title '{}'\n  # …\nend\n", spec.id, impact.unwrap_or(spec.impact), spec.title),
        "source_location": {"ref": spec.file, "line": line},
        "waiver_data": {},
        "results": results(spec, outcome, seed),
    });
    if let Outcome::Waived(why) = outcome {
        c["waiver_data"] = json!({
            "justification": why,
            "run": false,
            "skipped_due_to_waiver": true,
            "message": "",
            "expiration_date": "2026-12-31"
        });
    }
    c
}

fn profile(name: &str, title: &str, controls: Vec<Value>, extra: Value) -> Value {
    let ids: Vec<&str> = controls.iter().filter_map(|c| c["id"].as_str()).collect();
    let mut groups: Vec<Value> = Vec::new();
    for c in &controls {
        let file = c["source_location"]["ref"].as_str().unwrap_or("");
        if file.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|g| g["id"] == file) {
            Some(g) => g["controls"].as_array_mut().unwrap().push(c["id"].clone()),
            None => groups.push(json!({"id": file, "controls": [c["id"]]})),
        }
    }
    let sha = Sha256::digest(format!("{name}\0{}", ids.join("\0")));
    let mut p = json!({
        "name": name,
        "title": title,
        "maintainer": "kscan",
        "copyright": "kscan authors",
        "license": "Apache-2.0",
        "summary": title,
        "version": "1.2.0",
        "supports": [{"platform-family": "linux"}],
        "attributes": [],
        "groups": groups,
        "controls": controls,
        "sha256": sha.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "status": "loaded",
    });
    if let (Value::Object(p), Value::Object(extra)) = (&mut p, extra) {
        p.extend(extra);
    }
    p
}

fn execution(platform: Value, profiles: Vec<Value>, duration: f64) -> Value {
    json!({
        "platform": platform,
        "profiles": profiles,
        "statistics": {"duration": duration},
        "version": "6.8.1"
    })
}

fn baseline(outcomes: &dyn Fn(&Spec) -> Outcome, impacts: &dyn Fn(&Spec) -> Option<f64>) -> Vec<Value> {
    BASELINE.iter().enumerate().map(|(i, s)| control(s, outcomes(s), 10 + i * 14, i, impacts(s))).collect()
}

const BASELINE_NAME: &str = "container-baseline";
const BASELINE_TITLE: &str = "kscan container baseline";

fn nginx() -> Value {
    let outcomes = |s: &Spec| match s.id {
        "kscan-pkg-cache-clean" => {
            Outcome::Fail("expected `[\"libnginx-mod-http-geoip_1.22.1-9_amd64.deb\"].empty?` to be truthy, got false")
        }
        "kscan-tmp-noexec" => Outcome::Skip("/tmp is not a separate mount in this container"),
        _ => Outcome::Pass,
    };
    execution(
        json!({"name": "debian", "release": "12.8", "target_id": "web/nginx-7d9c6b5f4-x2x8q/nginx"}),
        vec![profile(BASELINE_NAME, BASELINE_TITLE, baseline(&outcomes, &|_| None), json!({}))],
        4.82,
    )
}

fn legacy_billing() -> Value {
    let outcomes = |s: &Spec| {
        match s.id {
        "kscan-shadow-perms" => {
            Outcome::Fail("expected it to cmp <= \"0640\"\n     got: 0644\n\n(compared using `cmp` matcher)\n")
        }
        "kscan-no-root-user" => Outcome::Fail(
            "expected `[{\"label\"=>nil, \"pid\"=>1, \"user\"=>\"root\", \"command\"=>\"java -jar /app/billing.jar\"}].empty?` to be truthy, got false",
        ),
        "kscan-setuid-binaries" => Outcome::Fail(
            "expected `\"/usr/bin/chfn\\n/usr/bin/passwd\\n/usr/bin/su\\n/usr/bin/mount\\n\".empty?` to be truthy, got false",
        ),
        "kscan-no-ssh-server" => Outcome::Fail("expected System Package openssh-server not to be installed"),
        "kscan-no-secrets-in-env" => Outcome::Error("Errno::EACCES", "Permission denied @ rb_sysopen - /proc/1/environ"),
        "kscan-os-supported" => Outcome::Fail("expected debian 10.13 to be supported: Debian 10 (buster) reached end of life on 2024-06-30"),
        "kscan-sudo-absent" => Outcome::Waived("Vendor image; sudo is removed in billing 4.0 (PAY-1234)"),
        "kscan-tmp-noexec" => Outcome::Skip("/tmp is not a separate mount in this container"),
        _ => Outcome::Pass,
    }
    };
    execution(
        json!({"name": "debian", "release": "10.13", "target_id": "payments/legacy-billing-5c8f7d9b8-qwz4p/app"}),
        vec![profile(BASELINE_NAME, BASELINE_TITLE, baseline(&outcomes, &|_| None), json!({}))],
        7.31,
    )
}

/// An overlay: `acme-container-overlay` wraps the baseline, raises one
/// impact, makes one control not applicable by policy, and adds its own.
fn overlay() -> Value {
    const WRAPPER: &str = "acme-container-overlay";
    let outcomes = |s: &Spec| match s.id {
        "kscan-no-ssh-server" => Outcome::Fail("expected System Package openssh-server not to be installed"),
        "kscan-tmp-noexec" => Outcome::Skip("/tmp is not a separate mount in this container"),
        _ => Outcome::Pass,
    };
    let impacts = |s: &Spec| match s.id {
        "kscan-no-ssh-server" => Some(1.0),
        "kscan-pkg-cache-clean" => Some(0.0),
        _ => None,
    };
    let base = baseline(&outcomes, &impacts);
    let own = Spec {
        id: "acme-approved-base-image",
        title: "The image is built from an ACME-approved base image",
        impact: 0.7,
        nist: &["CM-2", "SA-10"],
        file: "controls/acme.rb",
        desc: "Only base images from registry.acme.example/base are patched by the platform team.",
        check: "/etc/acme-base-release exists and names an approved base.",
        fix: "FROM registry.acme.example/base/debian:12",
        tests: &["File /etc/acme-base-release is expected to exist"],
    };
    let mut wrapper_controls: Vec<Value> = base
        .iter()
        .map(|c| {
            let mut c = c.clone();
            // The controls the overlay changes are defined in its own file.
            match c["id"].as_str() {
                Some("kscan-no-ssh-server") => c["source_location"] = json!({"ref": "controls/overlay.rb", "line": 4}),
                Some("kscan-pkg-cache-clean") => {
                    c["source_location"] = json!({"ref": "controls/overlay.rb", "line": 9})
                }
                _ => {}
            }
            c
        })
        .collect();
    wrapper_controls.push(control(&own, Outcome::Fail("expected File /etc/acme-base-release to exist"), 5, 99, None));
    execution(
        json!({"name": "debian", "release": "12.8", "target_id": "shop/checkout-6f7b9c8d5-k2l9m/checkout"}),
        vec![
            profile(
                WRAPPER,
                "ACME container overlay of the kscan baseline",
                wrapper_controls,
                json!({"depends": [{"name": BASELINE_NAME, "path": "../container-baseline"}]}),
            ),
            profile(BASELINE_NAME, BASELINE_TITLE, base, json!({"parent_profile": WRAPPER})),
        ],
        5.07,
    )
}

/// A posture scan of pod specs: findings about Kubernetes objects, with no
/// source file.
fn posture() -> Value {
    let pod = "payments/legacy-billing-5c8f7d9b8-qwz4p";
    let c = |id: &str, title: &str, impact: f64, nist: &[&str], code_desc: String, failed: Option<&str>| {
        let mut r = json!({"status": "passed", "code_desc": code_desc, "run_time": 0.0002, "start_time": START});
        if let Some(m) = failed {
            r["status"] = json!("failed");
            r["message"] = json!(m);
        }
        json!({
            "id": id, "title": title, "impact": impact, "refs": [],
            "tags": {"nist": nist, "pss": if id.starts_with("pss-restricted") { "restricted" } else { "baseline" }},
            "descriptions": [{"label": "default", "data": title}],
            "source_location": {},
            "results": [r]
        })
    };
    let controls = vec![
        c(
            "pss-baseline-privileged",
            "Containers must not run privileged",
            0.9,
            &["AC-6 (10)"],
            format!("Pod {pod} container app securityContext.privileged is expected to be false"),
            Some("expected privileged: true to be false"),
        ),
        c(
            "pss-baseline-host-namespaces",
            "Pods must not share the host's network, PID or IPC namespace",
            0.7,
            &["SC-39"],
            format!("Pod {pod} spec.hostNetwork, hostPID, hostIPC are expected to be unset or false"),
            None,
        ),
        c(
            "pss-restricted-run-as-non-root",
            "Containers must set runAsNonRoot: true",
            0.5,
            &["AC-6 (9)"],
            format!("Pod {pod} container app securityContext.runAsNonRoot is expected to be true"),
            Some("runAsNonRoot is not set on the pod or the container"),
        ),
        c(
            "kscan-image-tag-not-latest",
            "Images are pinned: no :latest or missing tag",
            0.3,
            &["CM-2", "CM-14"],
            format!("Pod {pod} container app image is expected not to use the :latest tag"),
            Some("image registry.acme.example/payments/billing:latest uses :latest"),
        ),
    ];
    execution(
        json!({"name": "kubernetes", "release": "1.35.0", "target_id": "payments"}),
        vec![profile("kscan-pod-posture", "kscan pod posture (Pod Security Standards)", controls, json!({}))],
        0.41,
    )
}

/// The example files, by name.
pub fn examples() -> Vec<(&'static str, Value)> {
    vec![
        ("nginx-baseline.json", nginx()),
        ("legacy-billing-baseline.json", legacy_billing()),
        ("checkout-overlay.json", overlay()),
        ("payments-posture.json", posture()),
    ]
}

/// Check a document with kscan's own loader and render it as kscan writes
/// HDF (the model's field order, `code` included).
pub fn render(name: &str, doc: Value) -> String {
    let codes: Vec<Vec<Option<String>>> = doc["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["controls"].as_array().unwrap().iter().map(|c| c["code"].as_str().map(str::to_owned)).collect())
        .collect();
    let mut execution: Execution = serde_json::from_value(doc).expect("the generator writes exec JSON");
    for (p, codes) in execution.profiles.iter_mut().zip(codes) {
        for (c, code) in p.controls.iter_mut().zip(codes) {
            c.code = code;
        }
    }
    let set = ResultSet::new(Source::File(name.into()), execution).expect("kscan loads what the generator writes");
    let mut text = serde_json::to_string_pretty(&set.execution).expect("serialisable");
    text.push('\n');
    text
}

/// A synthetic document of about `megabytes` MB: the baseline repeated in
/// many profiles, with every kind of outcome.
pub fn big(megabytes: usize) -> Vec<u8> {
    let mut profiles = Vec::new();
    let mut bytes = 0usize;
    let mut n = 0usize;
    while bytes < megabytes * 1_000_000 {
        let outcomes = |s: &Spec| {
            let k = (s.id.len() + n) % 9;
            match k {
                0 => Outcome::Fail("expected it to cmp <= \"0640\"\n     got: 0644"),
                1 => Outcome::Error("Errno::EACCES", "Permission denied @ rb_sysopen - /proc/1/environ"),
                2 => Outcome::Skip("/tmp is not a separate mount in this container"),
                3 => Outcome::Waived("accepted risk"),
                _ => Outcome::Pass,
            }
        };
        let controls: Vec<Value> = BASELINE
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut c = control(s, outcomes(s), 10 + i * 14, n + i, None);
                c["id"] = json!(format!("{}-{n}", s.id));
                c
            })
            .collect();
        let p = profile(&format!("{BASELINE_NAME}-{}", n % 50), BASELINE_TITLE, controls, json!({}));
        bytes += serde_json::to_vec(&p).expect("serialisable").len();
        profiles.push(p);
        n += 1;
    }
    let doc = execution(json!({"name": "debian", "release": "12.8", "target_id": "bench/big/app"}), profiles, 999.0);
    serde_json::to_vec(&doc).expect("serialisable")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/results");
            std::fs::create_dir_all(&dir).expect("create examples/results");
            for (name, doc) in examples() {
                let path = dir.join(name);
                std::fs::write(&path, render(name, doc)).expect("write example");
                println!("wrote {}", path.display());
            }
        }
        [flag, mb, out] if flag == "--big" => {
            let mb: usize = mb.parse().expect("--big takes a size in MB");
            let out = PathBuf::from(out);
            std::fs::write(&out, big(mb)).expect("write the big file");
            println!("wrote {} ({} bytes)", out.display(), std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0));
        }
        _ => {
            eprintln!("usage: generate_results [--big MB OUT]");
            std::process::exit(2);
        }
    }
}
