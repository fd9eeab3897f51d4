//! A throwaway PostgreSQL server for a test: `initdb` into a temporary
//! directory, `pg_ctl start` on a free loopback port (and a socket in that
//! directory), stopped and removed when the guard is dropped.
//!
//! initdb refuses to run as root: as root the server runs as the `postgres`
//! user (`runuser -u postgres --`), which owns the directory. The server
//! binaries are Debian's (`postgresql`, installed by
//! `scripts/setup.d/70-serve-tools.sh`) under `/usr/lib/postgresql/N/bin`;
//! `KSCAN_PG_BIN` names another directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser's name and password in every throwaway server.
pub const USER: &str = "kscan";
/// Its password (scram-sha-256 authentication is on, so a wrong one fails).
pub const PASSWORD: &str = "pg-test-secret-7f3a9c";

/// A running server; dropped = stopped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

/// The directory of `initdb` and `pg_ctl`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KSCAN_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop().expect(
        "no PostgreSQL server binaries under /usr/lib/postgresql: run `scripts/setup` (it installs postgresql) \
         or set KSCAN_PG_BIN",
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…` as the user the server runs as.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Postgres {
    /// Initialise and start a server; panics with the server's log if it does not come up.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("kscan-pg-").tempdir().unwrap();
        if is_root() {
            let id = |flag: &str| -> u32 {
                let out = run(
                    {
                        let mut c = Command::new("id");
                        c.args([flag, "postgres"]);
                        c
                    },
                    "id postgres",
                );
                String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&pwfile);
                    c
                },
                "chown pwfile",
            );
        }
        let data = dir.path().join("data");
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args(["-U", USER, "--auth=scram-sha-256", "--no-sync", "--no-instructions"]);
        initdb.arg(format!("--pwfile={}", pwfile.display()));
        run(initdb, "initdb");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut ctl = as_server_user(&bin.join("pg_ctl"));
            ctl.arg("-D").arg(&data).arg("-l").arg(dir.path().join("log")).args(["-w", "-t", "60"]);
            ctl.arg("-o").arg(format!(
                "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                dir.path().display()
            ));
            ctl.arg("start");
            let out = ctl.output().expect("running pg_ctl");
            if out.status.success() {
                return Postgres { dir, bin, port };
            }
            last = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        }
        panic!("PostgreSQL did not start on a free port: {last}");
    }

    /// The URL of database `db` with the superuser's password.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// Create database `name` and return its URL.
    pub fn create_db(&self, name: &str) -> String {
        let mut cmd = Command::new(self.bin.join("createdb"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, name]).env("PGPASSWORD", PASSWORD);
        run(cmd, "createdb");
        self.url(name)
    }

    /// Run `sql` in database `db` with psql; its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", db]);
        cmd.args(["-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql]).env("PGPASSWORD", PASSWORD);
        String::from_utf8_lossy(&run(cmd, "psql").stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut ctl = as_server_user(&self.bin.join("pg_ctl"));
        ctl.arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = ctl.output();
    }
}
