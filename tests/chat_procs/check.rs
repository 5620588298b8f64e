//! What the process tests check: every client file against the store,
//! read while the processes run (a file or the store may be a step ahead:
//! `Diff::Pending` until it settles).
//!
//! Uses the test's `chat_harness` module (the chat example's code).

use crate::chat_harness::chat::db::Contents;
use crate::chat_harness::chat::wire::{self, Receipt};
use crate::chat_harness::{file_rows, store_rows};
use crate::chat_procs::{spawn_client, Proc};
use ackwire::store::{RedisStore, Store};
use ackwire::{StreamId, SyncRange, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub struct ClientProc {
    pub id: u64,
    pub conversations: Vec<u64>,
    pub servers: Vec<String>,
    pub bin: &'static str,
    pub db: PathBuf,
    pub log: PathBuf,
    pub proc: Option<Proc>,
}

impl ClientProc {
    pub fn start(&mut self) {
        self.proc = Some(spawn_client(
            self.bin,
            self.id,
            &self.conversations,
            &self.servers,
            &self.db,
            &self.log,
        ));
    }

    pub fn send(&mut self, conversation: u64, text: &str) {
        let p = self.proc.as_mut().expect("running");
        writeln!(p.stdin(), "{conversation} {text}").expect("client alive");
    }

    pub fn kill9_and_restart(&mut self) {
        self.proc.take().expect("running").kill9();
        self.start();
    }
}

/// Reads every conversation from the store.
pub fn stored(
    rt: &tokio::runtime::Runtime,
    store: &RedisStore,
    convs: &BTreeSet<u64>,
) -> Result<BTreeMap<u64, Vec<ackwire::Message>>, String> {
    rt.block_on(async {
        let mut out = BTreeMap::new();
        for &c in convs {
            let page = store
                .read(StreamId(c), SyncRange::After(Version::ZERO), u32::MAX)
                .await
                .map_err(|e| format!("store: {e}"))?;
            out.insert(c, page.messages);
        }
        Ok(out)
    })
}

pub enum Diff {
    Pending(String),
    Broken(String),
}

/// Every client file against the store: each conversation exactly as
/// stored; each send stored once, under the version its receipt names;
/// nothing stored that no client sent. Returns the sends acked.
pub fn check_exact(
    rt: &tokio::runtime::Runtime,
    store: &RedisStore,
    clients: &[ClientProc],
) -> Result<usize, Diff> {
    let convs: BTreeSet<u64> = clients
        .iter()
        .flat_map(|c| c.conversations.clone())
        .collect();
    let stored = stored(rt, store, &convs).map_err(Diff::Pending)?;
    let mut sends = BTreeMap::new();
    for (c, messages) in &stored {
        for m in messages {
            let (sender, outbox, text) = wire::parse_conversation_payload(m.payload.clone())
                .ok_or_else(|| Diff::Broken(format!("conversation {c}: bad payload")))?;
            if sends
                .insert((sender, outbox.0), (*c, m.version, text))
                .is_some()
            {
                return Err(Diff::Broken(format!(
                    "send {sender}/{} stored twice",
                    outbox.0
                )));
            }
        }
    }
    let mut acked = 0;
    for client in clients {
        let file = Contents::load(&client.db).map_err(|e| Diff::Broken(e.to_string()))?;
        for c in &client.conversations {
            let local = file_rows(&file, *c);
            let remote = store_rows(&stored[c]);
            if local != remote {
                let what = format!(
                    "client {}, conversation {c}: file has {:?}, store has {:?}",
                    client.id,
                    local.iter().map(|m| m.1 .0).collect::<Vec<_>>(),
                    remote.iter().map(|m| m.1 .0).collect::<Vec<_>>()
                );
                // The store is read before the files: a message stored and
                // delivered in between makes a file run ahead of the
                // snapshot, which the next look settles (a file holding
                // what the store never gets stays pending, and times out).
                return Err(
                    if remote.starts_with(&local) || local.starts_with(&remote) {
                        Diff::Pending(what)
                    } else {
                        Diff::Broken(what)
                    },
                );
            }
        }
        for (&v, out) in &file.outbox {
            let Some((conv, version, text)) = sends.get(&(client.id, v)) else {
                return Err(Diff::Pending(format!(
                    "client {}: send {v} not stored",
                    client.id
                )));
            };
            if *conv != out.conversation || *text != out.text {
                return Err(Diff::Broken(format!(
                    "client {}: send {v} stored differently",
                    client.id
                )));
            }
            match out.receipt.as_deref().map(Receipt::decode) {
                Some(Some(Receipt::Stored(r))) if r == *version => acked += 1,
                None => {
                    return Err(Diff::Pending(format!(
                        "client {}: send {v} not acked",
                        client.id
                    )))
                }
                other => {
                    return Err(Diff::Broken(format!(
                        "client {}: send {v} stored as {version:?}, receipt {other:?}",
                        client.id
                    )))
                }
            }
        }
    }
    for (sender, outbox) in sends.keys() {
        let client = clients.iter().find(|c| c.id == *sender);
        let sent = client
            .is_some_and(|c| Contents::load(&c.db).is_ok_and(|f| f.outbox.contains_key(outbox)));
        if !sent {
            return Err(Diff::Broken(format!(
                "{sender}/{outbox} stored but never sent"
            )));
        }
    }
    Ok(acked)
}

pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Result<T, Diff>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(t) => return t,
            Err(Diff::Broken(b)) => panic!("{what}: broken: {b}"),
            Err(Diff::Pending(p)) if start.elapsed() > within => {
                panic!("{what}: not within {within:?}: {p}")
            }
            Err(Diff::Pending(_)) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
