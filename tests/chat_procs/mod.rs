//! Real processes for the chat tests: a redis-server of their own, the
//! `chat_server` and `chat_client` example binaries (built beforehand with
//! `cargo build --examples --features redis-store`; `.ci/run` does), killed
//! with SIGKILL when a test says so and always when it ends. Everything
//! listens on 127.0.0.1 only.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub mod check;

pub const SECRET: &str = "chat-procs-secret";

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An example binary beside this test's binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples --features redis-store` first (.ci/run does)",
        path.display()
    );
    path
}

pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("ackwire-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until something accepts on `port`.
pub fn wait_listening(port: u16, within: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < within,
            "nothing listens on {port} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("piped stdin")
    }

    /// SIGTERM, then the exit status (within `within`).
    pub fn terminate(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-server of the test's own, without persistence.
pub struct Redis {
    pub port: u16,
    pub proc: Option<Proc>,
    dir: PathBuf,
}

impl Redis {
    pub fn start(dir: &Path) -> Redis {
        let mut r = Redis {
            port: free_port(),
            proc: None,
            dir: dir.to_owned(),
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again, empty) on its port.
    pub fn restart(&mut self) {
        assert!(self.proc.is_none());
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server; .ci/run does)");
        self.proc = Some(Proc {
            child,
            name: "redis".into(),
        });
        wait_listening(self.port, Duration::from_secs(10));
    }

    /// kill -9: everything it held is gone.
    pub fn kill9(&mut self) {
        self.proc.take().expect("running").kill9();
    }
}

pub struct ServerSpec {
    pub port: u16,
    pub ws_port: u16,
    pub metrics_port: u16,
    pub redis: Option<String>,
    pub prefix: String,
    pub extra: Vec<String>,
}

impl ServerSpec {
    pub fn new(redis: Option<String>, prefix: &str) -> ServerSpec {
        ServerSpec {
            port: free_port(),
            ws_port: free_port(),
            metrics_port: free_port(),
            redis,
            prefix: prefix.into(),
            extra: Vec::new(),
        }
    }

    pub fn spawn(&self, log: &Path) -> Proc {
        let mut cmd = Command::new(example("chat_server"));
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--ws-listen", &format!("127.0.0.1:{}", self.ws_port)])
            .args(["--metrics", &format!("127.0.0.1:{}", self.metrics_port)])
            .args(["--prefix", &self.prefix])
            .args(&self.extra)
            .env("CHAT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(open_log(log));
        if let Some(url) = &self.redis {
            cmd.args(["--redis", url]);
        }
        let proc = Proc {
            child: cmd.spawn().unwrap(),
            name: format!("server :{}", self.port),
        };
        wait_listening(self.port, Duration::from_secs(20));
        proc
    }

    /// `GET /metrics`, one metric's value.
    pub fn metric(&self, name: &str) -> Option<u64> {
        use std::io::Read;
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.parse().ok())
    }
}

fn open_log(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// A `chat_client` (or `chat_client_blocking`) process fed through stdin.
pub fn spawn_client(
    bin: &str,
    id: u64,
    conversations: &[u64],
    servers: &[String],
    db: &Path,
    log: &Path,
) -> Proc {
    let mut cmd = Command::new(example(bin));
    cmd.args(["--id", &id.to_string(), "--db"]).arg(db);
    for c in conversations {
        cmd.args(["--conv", &c.to_string()]);
    }
    for s in servers {
        cmd.args(["--server", s]);
    }
    let child = cmd
        .env("CHAT_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(open_log(log))
        .stderr(open_log(log))
        .spawn()
        .unwrap();
    Proc {
        child,
        name: format!("client {id}"),
    }
}

/// Raises this process's soft file limit (the flood tests open thousands
/// of sockets).
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}
