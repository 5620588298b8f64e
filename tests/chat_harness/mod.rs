//! Runs the chat examples for real (TCP on loopback, files on disk) and
//! checks them independently: each client's database file, read back from
//! disk, against the server's store.
#![allow(dead_code)]

#[path = "../../examples/chat/mod.rs"]
pub mod chat;

use ackwire::{StreamId, SyncRange, Version};
use chat::app::Command;
use chat::auth::Secret;
use chat::client::{ClientOptions, ServerAddr};
use chat::db::Contents;
use chat::server::{self, ServerHandle, ServerOptions};
use chat::wire::{self, Receipt};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// One message of a conversation as the checks compare a client file with
/// the store: its chain link, its version and its payload.
pub type Row = (Version, Version, bytes::Bytes);

/// Conversation `c` as a client file holds it, in the order committed.
pub fn file_rows(file: &Contents, c: u64) -> Vec<Row> {
    file.messages
        .get(&c)
        .map(|m| {
            m.iter()
                .map(|s| (s.prev, s.version, s.payload.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Messages read from the store, as rows.
pub fn store_rows(messages: &[ackwire::Message]) -> Vec<Row> {
    messages
        .iter()
        .map(|m| (m.prev, m.version, m.payload.clone()))
        .collect()
}

/// Generous: a healthy run converges in a second or two.
pub const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

pub struct ClientSpec {
    pub id: u64,
    pub conversations: Vec<u64>,
    /// Indexes into the cluster's server addresses, tried in this order.
    pub servers: Vec<usize>,
    pub blocking: bool,
}

enum Running {
    Tokio {
        task: tokio::task::JoinHandle<std::io::Result<()>>,
        tx: mpsc::Sender<Command>,
    },
    Blocking {
        thread: std::thread::JoinHandle<std::io::Result<()>>,
        tx: std::sync::mpsc::Sender<Command>,
        kill: Arc<AtomicBool>,
    },
}

pub struct Cluster<S> {
    pub store: S,
    pub addrs: Vec<SocketAddr>,
    pub servers: Vec<Option<ServerHandle>>,
    specs: BTreeMap<u64, ClientSpec>,
    running: BTreeMap<u64, Running>,
    /// Every text each client accepted, in order.
    issued: BTreeMap<u64, Vec<String>>,
    dir: PathBuf,
}

pub fn secret() -> Secret {
    Secret::new(*b"chat-harness-secret")
}

pub fn server_options() -> ServerOptions {
    ServerOptions::new(secret())
}

impl<S: chat::store::ChatStore> Cluster<S> {
    /// Starts `servers` servers on `store` (each its own clone: several
    /// processes sharing one database) and no clients.
    pub async fn start(name: &str, stores: Vec<S>) -> Cluster<S> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("ackwire-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Cluster {
            store: stores[0].clone(),
            addrs: Vec::new(),
            servers: Vec::new(),
            specs: BTreeMap::new(),
            running: BTreeMap::new(),
            issued: BTreeMap::new(),
            dir,
        };
        for store in stores {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let handle = server::spawn(listener, store, server_options()).unwrap();
            cluster.addrs.push(handle.addr);
            cluster.servers.push(Some(handle));
        }
        cluster
    }

    /// Kills server `i` (a crash: its connections end at once).
    pub async fn kill_server(&mut self, i: usize) {
        self.servers[i].take().expect("running").kill().await;
    }

    /// Starts server `i` again on its old address.
    pub async fn restart_server(&mut self, i: usize, store: S) {
        assert!(self.servers[i].is_none());
        let listener = TcpListener::bind(self.addrs[i]).await.unwrap();
        self.servers[i] = Some(server::spawn(listener, store, server_options()).unwrap());
    }

    pub fn db_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("client-{id}.db"))
    }

    pub fn add_client(&mut self, spec: ClientSpec) {
        let id = spec.id;
        self.specs.insert(id, spec);
        self.issued.entry(id).or_default();
        self.start_client(id);
    }

    fn start_client(&mut self, id: u64) {
        let spec = &self.specs[&id];
        let options = ClientOptions {
            client: id,
            token: secret().token(id),
            conversations: spec.conversations.clone(),
            servers: spec
                .servers
                .iter()
                .map(|&i| ServerAddr::Tcp(self.addrs[i]))
                .collect(),
            db: self.db_path(id),
            reconnect_delay: Duration::from_millis(50),
        };
        let running = if spec.blocking {
            let (tx, rx) = std::sync::mpsc::channel();
            let kill = Arc::new(AtomicBool::new(false));
            let k = kill.clone();
            let thread = std::thread::spawn(move || chat::blocking::run(options, rx, &k, |_| {}));
            Running::Blocking { thread, tx, kill }
        } else {
            let (tx, rx) = mpsc::channel(16);
            let task = tokio::spawn(chat::client::run(options, rx, |_| {}));
            Running::Tokio { task, tx }
        };
        self.running.insert(id, running);
    }

    /// The client process dies (its memory is gone, its file stays) and
    /// starts again from its file.
    pub async fn crash_and_restart_client(&mut self, id: u64) {
        match self.running.remove(&id).expect("running") {
            Running::Tokio { task, .. } => {
                task.abort();
                assert!(
                    task.await.unwrap_err().is_cancelled(),
                    "client {id} had stopped"
                );
            }
            Running::Blocking { thread, kill, .. } => {
                kill.store(true, Ordering::Relaxed);
                tokio::task::spawn_blocking(move || thread.join())
                    .await
                    .unwrap()
                    .expect("no panic")
                    .expect("no database error");
            }
        }
        self.start_client(id);
    }

    /// The user of client `id` sends `text`; returns once it is on disk.
    pub async fn send(&mut self, id: u64, conversation: u64, text: String) {
        let (accepted, rx) = oneshot::channel();
        let cmd = Command {
            conversation,
            text: text.clone(),
            accepted: Some(accepted),
        };
        match &self.running[&id] {
            Running::Tokio { tx, .. } => tx.send(cmd).await.expect("client running"),
            Running::Blocking { tx, .. } => tx.send(cmd).expect("client running"),
        }
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("a send is accepted within 10 s")
            .expect("client running");
        self.issued.get_mut(&id).unwrap().push(text);
    }

    /// Waits until every client's file equals the store; panics with the
    /// last difference after `CONVERGE_WITHIN`.
    pub async fn wait_converged(&self) -> Report {
        let start = tokio::time::Instant::now();
        loop {
            match self.check().await {
                Ok(report) => return report,
                Err(Diff::Broken(what)) => panic!("broken: {what}"),
                Err(Diff::Pending(diff)) if start.elapsed() > CONVERGE_WITHIN => {
                    panic!("no convergence within {CONVERGE_WITHIN:?}: {diff}")
                }
                Err(Diff::Pending(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The independent check: files read back from disk, store read
    /// through the `Store` interface, compared record by record.
    pub async fn check(&self) -> Result<Report, Diff> {
        use Diff::{Broken, Pending};
        let mut report = Report::default();
        // Conversation -> store contents, and every send it holds.
        let mut stored = BTreeMap::new();
        let conversations: BTreeSet<u64> = self
            .specs
            .values()
            .flat_map(|s| s.conversations.iter().copied())
            .collect();
        for &c in &conversations {
            let page = self
                .store
                .read(StreamId(c), SyncRange::After(Version::ZERO), u32::MAX)
                .await
                .map_err(|e| Pending(format!("store: {e}")))?;
            let mut sends = BTreeMap::new();
            for m in &page.messages {
                let (sender, outbox, text) = wire::parse_conversation_payload(m.payload.clone())
                    .ok_or(Broken(format!("conversation {c}: bad payload")))?;
                if let Some(earlier) = sends.insert((sender, outbox.0), (m.version, text)) {
                    return Err(Broken(format!(
                        "conversation {c}: send {sender}/{} stored twice ({:?} and {:?})",
                        outbox.0, earlier.0, m.version
                    )));
                }
            }
            report.stored += page.messages.len();
            stored.insert(c, (page.messages, sends));
        }
        for (id, spec) in &self.specs {
            let file = Contents::load(&self.db_path(*id)).map_err(|e| Broken(e.to_string()))?;
            // Delivery: each conversation exactly as stored, in order.
            for c in &spec.conversations {
                let local = file_rows(&file, *c);
                let remote = store_rows(&stored[c].0);
                if local != remote {
                    // A file that is not a prefix of the store never heals.
                    let prefix = remote.starts_with(&local);
                    let versions = |v: &[Row]| v.iter().map(|m| m.1 .0).collect::<Vec<_>>();
                    let what = format!(
                        "client {id}, conversation {c}: file has {:?}, store has {:?}",
                        versions(&local),
                        versions(&remote)
                    );
                    return Err(if prefix { Pending(what) } else { Broken(what) });
                }
                report.delivered += local.len();
            }
            // Sending: what the user typed is in the outbox, in order; each
            // send is stored once, under the version its receipt names.
            let texts: Vec<String> = file
                .outbox
                .values()
                .map(|o| String::from_utf8_lossy(&o.text).into_owned())
                .collect();
            if texts != self.issued[id] {
                let what = format!("client {id}: outbox {texts:?}, typed {:?}", self.issued[id]);
                return Err(Broken(what));
            }
            for (&v, out) in &file.outbox {
                let Some((version, text)) = stored[&out.conversation].1.get(&(*id, v)) else {
                    return Err(Pending(format!("client {id}: send {v} not stored (yet)")));
                };
                if *text != out.text {
                    return Err(Broken(format!(
                        "client {id}: send {v} stored with other text"
                    )));
                }
                match out.receipt.as_deref().map(Receipt::decode) {
                    Some(Some(Receipt::Stored(r))) if r == *version => {}
                    None => return Err(Pending(format!("client {id}: send {v} not acked (yet)"))),
                    other => {
                        return Err(Broken(format!(
                            "client {id}: send {v} stored as {version:?}, receipt {other:?}"
                        )))
                    }
                }
                report.sent += 1;
            }
        }
        // Nothing in the store that no client sent.
        for (c, (_, sends)) in &stored {
            for (sender, outbox) in sends.keys() {
                let sent = Contents::load(&self.db_path(*sender))
                    .map_err(|e| Broken(e.to_string()))?
                    .outbox
                    .get(outbox)
                    .is_some_and(|o| o.conversation == *c);
                if !sent {
                    return Err(Broken(format!(
                        "conversation {c}: {sender}/{outbox} was never sent"
                    )));
                }
            }
        }
        Ok(report)
    }

    /// Stops every client and removes the files (after a passing check).
    pub async fn shutdown(mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            match r {
                Running::Tokio { task, .. } => task.abort(),
                Running::Blocking { thread, kill, .. } => {
                    kill.store(true, Ordering::Relaxed);
                    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
                }
            }
        }
        for s in self.servers.iter_mut().filter_map(Option::take) {
            s.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why the check did not pass yet.
#[derive(Debug)]
pub enum Diff {
    /// Behind, may still catch up (a file shorter than the store, a send
    /// not acked yet).
    Pending(String),
    /// Wrong for good: a duplicate, a hole, a reordering, a bad receipt.
    Broken(String),
}

#[derive(Debug, Default)]
pub struct Report {
    /// Messages in the store.
    pub stored: usize,
    /// Messages in the clients' files (a message counts once per member).
    pub delivered: usize,
    /// Sends acked with their stored version.
    pub sent: usize,
}
