//! The server's counters, in the Prometheus text format on `GET /metrics`,
//! and `GET /health` (200 while the store answers, 503 otherwise). The
//! format is a few lines of text; no crate needed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Store latency histogram buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    pub connections_tcp: AtomicU64,
    pub connections_ws: AtomicU64,
    pub accepted: AtomicU64,
    pub refused_busy: AtomicU64,
    pub refused_token: AtomicU64,
    pub refused_hello: AtomicU64,
    pub accept_errors: AtomicU64,
    pub dead_peers: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub pushed: AtomicU64,
    pub retransmits: AtomicU64,
    pub syncs: AtomicU64,
    pub store_errors: AtomicU64,
    pub store_regressions: AtomicU64,
    pub notifications: AtomicU64,
    pub feed_reconnects: AtomicU64,
    pub store_latency: [AtomicU64; BUCKETS.len() + 1],
    pub store_latency_sum_us: AtomicU64,
    pub store_up: AtomicBool,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let m = Metrics::default();
        m.store_up.store(true, Relaxed);
        Arc::new(m)
    }

    pub fn store_call(&self, took: Duration, ok: bool) {
        let s = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len());
        self.store_latency[i].fetch_add(1, Relaxed);
        self.store_latency_sum_us
            .fetch_add(took.as_micros() as u64, Relaxed);
        if !ok {
            self.store_errors.fetch_add(1, Relaxed);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let g = |a: &AtomicU64| a.load(Relaxed);
        one(
            "chat_connections",
            "gauge",
            "Open client connections.",
            g(&self.connections),
        );
        one(
            "chat_connections_tcp",
            "gauge",
            "Open raw TCP connections.",
            g(&self.connections_tcp),
        );
        one(
            "chat_connections_websocket",
            "gauge",
            "Open WebSocket connections.",
            g(&self.connections_ws),
        );
        one(
            "chat_connections_accepted_total",
            "counter",
            "Hellos accepted.",
            g(&self.accepted),
        );
        one(
            "chat_connections_refused_busy_total",
            "counter",
            "Connections refused at the connection cap.",
            g(&self.refused_busy),
        );
        one(
            "chat_connections_refused_token_total",
            "counter",
            "Hellos refused for a bad token.",
            g(&self.refused_token),
        );
        one(
            "chat_connections_refused_hello_total",
            "counter",
            "Connections closed for a missing, late or malformed hello.",
            g(&self.refused_hello),
        );
        one(
            "chat_accept_errors_total",
            "counter",
            "accept() failures (EMFILE and the like), each followed by a backoff.",
            g(&self.accept_errors),
        );
        one(
            "chat_dead_peers_total",
            "counter",
            "Connections closed after the dead-peer timeout.",
            g(&self.dead_peers),
        );
        one(
            "chat_messages_stored_total",
            "counter",
            "Client sends stored.",
            g(&self.stored),
        );
        one(
            "chat_messages_duplicate_total",
            "counter",
            "Client resends recognised by their receipt key.",
            g(&self.duplicates),
        );
        one(
            "chat_messages_pushed_total",
            "counter",
            "Messages pushed live to members.",
            g(&self.pushed),
        );
        one(
            "chat_retransmits_total",
            "counter",
            "DATA frames the server retransmitted.",
            g(&self.retransmits),
        );
        one(
            "chat_syncs_total",
            "counter",
            "Sync requests answered from the store.",
            g(&self.syncs),
        );
        one(
            "chat_store_errors_total",
            "counter",
            "Store (Redis) operations that failed.",
            g(&self.store_errors),
        );
        one(
            "chat_store_regressions_total",
            "counter",
            "Times the store held less than clients or this server had seen (data lost).",
            g(&self.store_regressions),
        );
        one(
            "chat_notifications_total",
            "counter",
            "Append notifications received from the store's pub/sub.",
            g(&self.notifications),
        );
        one(
            "chat_feed_reconnects_total",
            "counter",
            "Times the pub/sub subscription was (re)established.",
            g(&self.feed_reconnects),
        );
        one(
            "chat_store_up",
            "gauge",
            "1 while the store answers.",
            u64::from(self.store_up.load(Relaxed)),
        );
        let _ = writeln!(
            out,
            "# HELP chat_store_latency_seconds Store operation latency.\n# TYPE chat_store_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += g(&self.store_latency[i]);
            let _ = writeln!(
                out,
                "chat_store_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += g(&self.store_latency[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "chat_store_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "chat_store_latency_seconds_sum {}\nchat_store_latency_seconds_count {cumulative}",
            g(&self.store_latency_sum_us) as f64 / 1e6
        );
        out
    }
}

/// Serves `GET /metrics` and `GET /health` until the future is dropped,
/// and with `web` the files of that directory (the browser client's page
/// and its WebAssembly: `GET /` is `index.html`). HTTP/1.0, one request
/// per connection, 2 s to send it.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, web: Option<Arc<Path>>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let web = web.clone();
        tokio::spawn(async move {
            // A browser's request head is larger than a scraper's.
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(2), async {
                while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = std::str::from_utf8(&buf[..n]).unwrap_or("");
            let path = line.split(' ').nth(1).unwrap_or("");
            let path = path.split('?').next().unwrap_or("");
            let (status, kind, body) = match path {
                "/metrics" => ("200 OK", TEXT, metrics.render().into_bytes()),
                "/health" if metrics.store_up.load(Relaxed) => ("200 OK", TEXT, b"ok\n".to_vec()),
                "/health" => ("503 Service Unavailable", TEXT, b"store down\n".to_vec()),
                _ => match web.as_deref().map(|dir| static_file(dir, path)) {
                    Some(Some((kind, file))) => {
                        match tokio::task::spawn_blocking(move || std::fs::read(file)).await {
                            Ok(Ok(body)) => ("200 OK", kind, body),
                            _ => ("404 Not Found", TEXT, b"no such file\n".to_vec()),
                        }
                    }
                    _ => ("404 Not Found", TEXT, b"try /metrics or /health\n".to_vec()),
                },
            };
            let head = format!(
                "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            let _ = socket.shutdown().await;
        });
    }
}

const TEXT: &str = "text/plain; version=0.0.4";

/// The file under `dir` that `path` names, with its content type, or
/// `None`: only names of letters, digits, `-`, `_` and `.` (not leading),
/// so nothing outside `dir` can be named, and only the kinds a page needs.
pub fn static_file(dir: &Path, path: &str) -> Option<(&'static str, PathBuf)> {
    let rel = match path.strip_prefix('/')? {
        "" => "index.html",
        p => p,
    };
    let mut file = dir.to_path_buf();
    for part in rel.split('/') {
        let ok = !part.is_empty()
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return None;
        }
        file.push(part);
    }
    let kind = match file.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        _ => return None,
    };
    Some((kind, file))
}
