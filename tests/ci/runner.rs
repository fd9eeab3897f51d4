//! A small GitHub Actions runner for composite actions: it runs an
//! `action.yml`'s `run:` steps with bash the way the runner does (`bash
//! --noprofile --norc -eo pipefail FILE`), with `${{ … }}` expressions in
//! `env:` resolved from the inputs (defaults from the metadata), per-step
//! `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY`
//! files, and `GITHUB_PATH`/`GITHUB_ENV` carried to later steps. `uses:`
//! steps cannot run here: they are returned, not run. An expression this
//! runner does not know fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

/// What one step did.
#[derive(Debug)]
pub struct StepRun {
    /// The step's name.
    pub name: String,
    /// `Some(code)` for a `run:` step; `None` for a `uses:` step (not run).
    pub code: Option<i32>,
    /// Standard output (where workflow commands go).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The `uses:` and `if:` of a `uses:` step.
    pub uses: Option<(String, String)>,
}

/// A composite action and the job around it.
pub struct Runner {
    action_path: PathBuf,
    meta: Value,
    /// The workspace (the step's working directory).
    pub workspace: PathBuf,
    /// `RUNNER_TEMP`.
    pub temp: PathBuf,
    /// The job's step summary (every step's summary, concatenated).
    pub summary: String,
    inputs: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    path: Vec<PathBuf>,
    base_path: String,
    step_outputs: BTreeMap<String, BTreeMap<String, String>>,
}

impl Runner {
    /// The action at `action_path` (holding `action.yml`), run in `workspace`
    /// with `PATH` = `base_path`.
    pub fn new(action_path: &Path, workspace: &Path, temp: &Path, base_path: &str) -> Self {
        let text = std::fs::read_to_string(action_path.join("action.yml")).unwrap();
        let meta: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(meta["runs"]["using"].as_str(), Some("composite"));
        Runner {
            action_path: action_path.to_owned(),
            meta,
            workspace: workspace.to_owned(),
            temp: temp.to_owned(),
            summary: String::new(),
            inputs: BTreeMap::new(),
            env: BTreeMap::new(),
            path: Vec::new(),
            base_path: base_path.to_owned(),
            step_outputs: BTreeMap::new(),
        }
    }

    /// Set an input (`with:`); unknown inputs fail, as actionlint would.
    pub fn input(&mut self, name: &str, value: &str) -> &mut Self {
        assert!(!self.meta["inputs"][name].is_null(), "action.yml has no input {name}");
        self.inputs.insert(name.to_owned(), value.to_owned());
        self
    }

    fn input_value(&self, name: &str) -> String {
        let meta = &self.meta["inputs"][name];
        assert!(!meta.is_null(), "action.yml uses undefined input {name}");
        if let Some(v) = self.inputs.get(name) {
            return v.clone();
        }
        assert!(!meta["required"].as_bool().unwrap_or(false), "required input {name} not given");
        meta["default"].as_str().unwrap_or("").to_owned()
    }

    /// Resolve `${{ … }}` in `text`.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("closed expression") + start;
            let expr = rest[start + 3..end].trim();
            out.push_str(&self.eval(expr));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn eval(&self, expr: &str) -> String {
        if let Some(name) = expr.strip_prefix("inputs.") {
            return self.input_value(name);
        }
        if let Some(rest) = expr.strip_prefix("steps.") {
            let (id, output) = rest.split_once(".outputs.").unwrap_or_else(|| panic!("unknown expression {expr}"));
            return self.step_outputs.get(id).and_then(|o| o.get(output)).cloned().unwrap_or_default();
        }
        match expr {
            // As for `uses: ./`: the action is not from another repository.
            "github.action_repository" => String::new(),
            "github.action_path" => self.action_path.display().to_string(),
            "runner.temp" => self.temp.display().to_string(),
            "runner.tool_cache" => self.temp.join("tool-cache").display().to_string(),
            _ => panic!("this runner does not know the expression {expr}"),
        }
    }

    /// Run the steps in order; after a failed step the rest are not run.
    /// Returns every step (`uses:` steps and steps after a failure with
    /// `code: None`).
    pub fn run(&mut self) -> Vec<StepRun> {
        let steps = self.meta["runs"]["steps"].as_sequence().unwrap().clone();
        let mut runs = Vec::new();
        let mut failed = false;
        for (i, step) in steps.iter().enumerate() {
            let name = step["name"].as_str().unwrap_or("step").to_owned();
            if let Some(uses) = step["uses"].as_str() {
                let cond = step["if"].as_str().unwrap_or("").to_owned();
                runs.push(StepRun {
                    name,
                    code: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    uses: Some((uses.into(), cond)),
                });
                continue;
            }
            if failed {
                assert!(step["if"].is_null(), "this runner does not evaluate if: on run steps");
                runs.push(StepRun { name, code: None, stdout: String::new(), stderr: String::new(), uses: None });
                continue;
            }
            assert_eq!(step["shell"].as_str(), Some("bash"), "step {name}: composite run steps need shell: bash");
            let run = self.run_step(i, step);
            failed = run.code != Some(0);
            runs.push(run);
        }
        runs
    }

    fn run_step(&mut self, i: usize, step: &Value) -> StepRun {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        let dir = self.temp.join(format!("_step{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<PathBuf> = ["output", "env", "path", "summary"].iter().map(|f| dir.join(f)).collect();
        for f in &files {
            std::fs::write(f, "").unwrap();
        }
        let script = dir.join("script.sh");
        std::fs::write(&script, self.expand(step["run"].as_str().unwrap())).unwrap();

        let mut path: Vec<String> = self.path.iter().rev().map(|p| p.display().to_string()).collect();
        path.push(self.base_path.clone());
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&self.workspace)
            .env_clear()
            .env("PATH", path.join(":"))
            .env("HOME", std::env::var("HOME").unwrap())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTION_PATH", &self.action_path)
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("RUNNER_TEMP", &self.temp)
            .env("RUNNER_TOOL_CACHE", self.temp.join("tool-cache"))
            .env("RUNNER_OS", "Linux")
            .env("GITHUB_OUTPUT", &files[0])
            .env("GITHUB_ENV", &files[1])
            .env("GITHUB_PATH", &files[2])
            .env("GITHUB_STEP_SUMMARY", &files[3]);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(env) = step["env"].as_mapping() {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), self.expand(v.as_str().unwrap_or("")));
            }
        }
        let out = cmd.output().unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        if let Some(id) = step["id"].as_str() {
            self.step_outputs.insert(id.to_owned(), parse_file_commands(&read(&files[0])));
        }
        self.env.extend(parse_file_commands(&read(&files[1])));
        self.path.extend(read(&files[2]).lines().filter(|l| !l.is_empty()).map(PathBuf::from));
        self.summary.push_str(&read(&files[3]));
        StepRun {
            name,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            uses: None,
        }
    }

    /// The action's outputs, resolved from the steps' outputs.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        self.meta["outputs"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), self.expand(v["value"].as_str().unwrap())))
            .collect()
    }

    /// The directories steps added with `GITHUB_PATH`.
    pub fn added_path(&self) -> &[PathBuf] {
        &self.path
    }
}

/// Parse a `GITHUB_OUTPUT`/`GITHUB_ENV` file: `name=value` lines and
/// `name<<DELIMITER` blocks.
pub fn parse_file_commands(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l == delimiter {
                    closed = true;
                    break;
                }
                value.push(l);
            }
            assert!(closed, "{name}: delimiter {delimiter} never closes");
            out.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_owned(), value.to_owned());
        } else {
            panic!("not a file command line: {line:?}");
        }
    }
    out
}
