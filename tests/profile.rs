//! The InSpec profile `profiles/container-baseline`, which the cinc engine
//! runs: every control file parses (`ruby -c`, Debian's Ruby), and every
//! command line the profile hands to InSpec's `command` resource, run in
//! the testbed's standard containers through kscan's exec (as
//! train-k8s-container runs it: `sh -c LINE`), gives what the built-in
//! engine finds in the same container.
//!
//! CINC Auditor itself cannot be installed here (its gems come from
//! rubygems.org); `tests/cinc/profile-commands.rb` runs the control files
//! with InSpec's resources stubbed, answering each question (a command's
//! output, a path's existence, a file's content) from the container until
//! the profile asks nothing new: the command lines are the profile's own.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kscan::cluster::exec::Exec;
use kscan::target::{ContainerRef, Label, Subdomain};
use serde_json::{json, Value};
use support::cluster::{self, KEEP_RUNNING};
use support::named_paths;

fn profile() -> PathBuf {
    support::root().join("profiles/container-baseline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_control_file_is_valid_ruby() {
    let ruby = support::tool("ruby");
    let mut files: Vec<PathBuf> = std::fs::read_dir(profile().join("controls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rb"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files.push(support::root().join("tests/cinc/profile-commands.rb"));
    for file in files {
        let out = Command::new(&ruby).arg("-c").arg(&file).output().unwrap();
        assert!(out.status.success(), "{}: {}{}", file.display(), text(&out.stdout), text(&out.stderr));
        assert!(text(&out.stdout).contains("Syntax OK"), "{}", file.display());
    }
}

/// The questions the profile asks, given `answers`.
fn questions(answers: &BTreeMap<String, Value>) -> Vec<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(answers).unwrap()).unwrap();
    let out = Command::new(support::tool("ruby"))
        .arg(support::root().join("tests/cinc/profile-commands.rb"))
        .arg(profile())
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "profile-commands.rb: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One question answered from the container, over kscan's exec.
async fn answer(exec: &Exec, question: &str) -> Value {
    let (kind, rest) = question.split_once(':').unwrap();
    let run = |argv: Vec<&str>| {
        let argv: Vec<String> = argv.into_iter().map(String::from).collect();
        async move { exec.run(&argv).await.unwrap_or_else(|e| panic!("{question}: {e}")) }
    };
    match kind {
        "command" => {
            let out = run(vec!["sh", "-c", rest]).await;
            json!(text(&out.stdout))
        }
        "exist" | "directory" | "symlink" => {
            let flag = match kind {
                "exist" => "-e",
                "directory" => "-d",
                _ => "-L",
            };
            json!(run(vec!["test", flag, rest]).await.code == 0)
        }
        "content" => {
            let out = run(vec!["cat", rest]).await;
            if out.code == 0 {
                json!(text(&out.stdout))
            } else {
                Value::Null
            }
        }
        other => panic!("unknown question kind {other}: {question}"),
    }
}

/// Runs the profile against the container until it asks nothing new; the
/// answers to what its last run asked (earlier runs, with fewer answers,
/// may have asked what it no longer asks), the command lines among them.
async fn run_profile(exec: &Exec) -> BTreeMap<String, Value> {
    let mut answers = BTreeMap::new();
    for _ in 0..10 {
        let asked = questions(&answers);
        let new: Vec<String> = asked.iter().filter(|q| !answers.contains_key(*q)).cloned().collect();
        if new.is_empty() {
            answers.retain(|q, _| asked.contains(q));
            return answers;
        }
        for q in new {
            let a = answer(exec, &q).await;
            answers.insert(q, a);
        }
    }
    panic!("the profile kept asking new questions: {:#?}", answers.keys().collect::<Vec<_>>());
}

/// The output lines of the command line starting with `find` and
/// containing `needle`.
fn found(answers: &BTreeMap<String, Value>, needle: &str) -> BTreeSet<String> {
    let lines: Vec<(&String, &Value)> =
        answers.iter().filter(|(q, _)| q.starts_with("command:find ") && q.contains(needle)).collect();
    assert_eq!(lines.len(), 1, "one command line with {needle}: {:#?}", answers.keys().collect::<Vec<_>>());
    lines[0].1.as_str().unwrap().lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn output_of<'a>(answers: &'a BTreeMap<String, Value>, prefix: &str) -> &'a str {
    let (_, v) = answers
        .iter()
        .find(|(q, _)| q.starts_with(prefix))
        .unwrap_or_else(|| panic!("no command line {prefix}…: {:#?}", answers.keys().collect::<Vec<_>>()));
    v.as_str().unwrap()
}

fn control<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["profiles"][0]["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
}

fn failed(doc: &Value, id: &str) -> bool {
    control(doc, id)["results"].as_array().unwrap().iter().any(|r| r["status"] == "failed")
}

/// The built-in engine's HDF for `pod`'s container `app`, over exec.
fn builtin_scan(ns: &str, pod: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let output = support::kscan()
        .env("KSCAN_KUBECONFIG", support::testbed_kubeconfig())
        .args(["scan", "-n", ns, "--pod", pod, "--strategy", "exec", "--out-dir"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", text(&output.stderr));
    serde_json::from_slice(&std::fs::read(out.path().join(format!("{pod}.app.hdf.json"))).unwrap()).unwrap()
}

#[tokio::test]
async fn the_profiles_command_lines_find_what_the_builtin_engine_finds_in_busybox_and_debian() {
    cluster::in_namespace("profile-commands", |client, ns| async move {
        for (pod, image) in [("busybox", cluster::standard()), ("debian", cluster::debian_standard())] {
            cluster::running_pod(&client, &ns, pod, json!([{"name": "app", "image": image, "command": KEEP_RUNNING}]))
                .await;
            let target = ContainerRef {
                namespace: Label::parse("namespace", &ns).unwrap(),
                pod: Subdomain::parse("pod", pod).unwrap(),
                container: Label::parse("container", "app").unwrap(),
            };
            let exec = Exec::new(client.clone(), target, Duration::from_secs(120));
            // A planted key and a world-writable file, so that those
            // command lines have something to find.
            let plant = "printf '%s\\n' '-----BEGIN EC PRIVATE KEY-----' >/etc/kscan-test.key \
                         && touch /etc/kscan-ww && chmod 0666 /etc/kscan-ww";
            assert_eq!(exec.run(&["sh", "-c", plant]).await.unwrap().code, 0);

            let answers = run_profile(&exec).await;
            let doc = builtin_scan(&ns, pod);

            let setid = found(&answers, "-perm -4000");
            assert_eq!(setid, named_paths(&doc, "kscan-no-setid-binaries"), "{pod}: {answers:#?}");
            if pod == "debian" {
                assert!(setid.iter().any(|p| p.ends_with("/su")), "{pod}: login's setuid su is found: {setid:?}");
            }
            let mut writable = found(&answers, "-type f -perm -0002");
            writable.extend(found(&answers, "-type d -perm -0002"));
            assert!(writable.contains("/etc/kscan-ww"), "{pod}: {writable:?}");
            assert_eq!(writable, named_paths(&doc, "kscan-no-world-writable-system-files"), "{pod}");

            let candidates = found(&answers, "-size -1025k");
            assert!(candidates.contains("/etc/kscan-test.key"), "{pod}: {candidates:?}");
            let keys: BTreeSet<String> = candidates
                .iter()
                .filter(|p| {
                    let head =
                        answers.iter().find(|(q, _)| q.starts_with("command:head -n 64 ") && q.contains(p.as_str()));
                    head.is_some_and(|(_, v)| v.as_str().unwrap().contains("PRIVATE KEY-----"))
                })
                .cloned()
                .collect();
            assert_eq!(keys, named_paths(&doc, "kscan-no-private-keys-in-filesystem"), "{pod}");

            let euids: Vec<u32> =
                output_of(&answers, "command:awk '/^Uid:/").split_whitespace().map(|u| u.parse().unwrap()).collect();
            assert!(!euids.is_empty(), "{pod}");
            assert_eq!(euids.contains(&0), failed(&doc, "kscan-no-root-processes"), "{pod}: {euids:?}");

            let names = output_of(&answers, "command:awk '/^Name:/");
            assert!(names.split_whitespace().any(|n| n == "sh"), "{pod}: {names}");
            assert!(!failed(&doc, "kscan-no-remote-access-daemons"), "{pod}");

            let caps: Vec<u64> = output_of(&answers, "command:awk '/^CapEff:/")
                .split_whitespace()
                .map(|c| u64::from_str_radix(c, 16).unwrap())
                .collect();
            let beyond = caps.iter().any(|c| c & !(1 << 10) != 0);
            assert_eq!(beyond, failed(&doc, "kscan-capabilities-restricted"), "{pod}: {caps:x?}");

            for ns_kind in ["pid", "ipc", "net", "uts"] {
                let inode = output_of(&answers, &format!("command:stat -L -c %i /proc/1/ns/{ns_kind}")).trim();
                assert!(inode.parse::<u64>().is_ok(), "{pod} {ns_kind}: {inode:?}");
            }
            assert!(!failed(&doc, "kscan-no-host-namespaces"), "{pod}");
        }
    })
    .await;
}
