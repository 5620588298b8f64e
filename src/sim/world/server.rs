//! The simulated server app: its store (behind the delay and crash model
//! of [`SimStore`]), its half of each client's connection, and how it
//! stores upstream messages once, pushes them to members and answers sync
//! requests from the store.

use super::payload::{decode_datagram, decode_payload, encode_receipt, VOID};
use super::{Ev, World};
use crate::connection::{Connection, Event};
use crate::error::SendError;
use crate::message::{Message, StreamId, Version};
use crate::receiver::ReceiverEvent;
use crate::sender::SenderEvent;
use crate::sim::check::{ClientId, Origin};
use crate::sim::scenario::{marker_stream, outbox_stream, SimError};
use crate::sim::store::{SimStore, WriteTicket};
use crate::store::{Appended, Page, ReceiptKey};
use crate::sync::SyncRequest;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

pub(super) struct Server {
    pub(super) up: bool,
    /// Durable: the conversations' messages, versions, receipts and outbox
    /// heads, behind the store's fault model.
    pub(super) store: SimStore,
    pub(super) conns: Vec<Option<ServerConn>>,
    /// Check bookkeeping, not server state (the server never reads it):
    /// the upstream message each stored conversation message came from,
    /// by conversation and version, recorded when the store took it.
    pub(super) origins: BTreeMap<StreamId, BTreeMap<Version, Origin>>,
    /// Durable, per client: the outbox packages a server connection gave
    /// up (`PackageExpired`), told to every later connection: its resumed
    /// position is past them, but they were never stored.
    pub(super) passed: BTreeMap<usize, Vec<(Version, Version)>>,
}

impl Server {
    /// Messages the store holds in `conversation`.
    pub(super) fn stored(&self, conversation: StreamId) -> usize {
        self.origins.get(&conversation).map_or(0, BTreeMap::len)
    }
}

/// The server's half of a client's connection.
pub(super) struct ServerConn {
    pub(super) conn: Connection,
    pub(super) epoch: u64,
    /// Pushes refused for backpressure, in order.
    pub(super) backlog: VecDeque<Message>,
    /// Members of an upstream package delivered so far (they come one
    /// after another, all of them).
    pub(super) assembling: Vec<Message>,
}

/// An upstream message (or a whole package) on its way into the store.
pub(super) struct Upstream {
    pub(super) client: usize,
    pub(super) epoch: u64,
    pub(super) conversation: StreamId,
    /// Each member's outbox version and payload (one unless a package).
    pub(super) members: Vec<(Version, Bytes)>,
}

impl World {
    pub(super) fn pump_server(&mut self, c: usize) {
        let now = self.now;
        let Some(sc) = self.server.conns[c].as_mut() else {
            return;
        };
        while let Some(m) = sc.backlog.front() {
            match sc.conn.send(now, m.clone()) {
                Ok(()) => {
                    sc.backlog.pop_front();
                }
                Err(SendError::Backpressure) => break,
                Err(e) => {
                    let e = SimError::Driver(format!("server push to client {c}: {e}"));
                    self.fail(e);
                    return;
                }
            }
        }
        let mut events = Vec::new();
        while let Some(e) = sc.conn.poll_event() {
            events.push(e);
        }
        let epoch = sc.epoch;
        for e in events {
            self.server_event(c, epoch, e);
        }
        while let Some(sc) = self.server.conns[c].as_mut() {
            let epoch = sc.epoch;
            let Some(p) = sc.conn.poll_transmit(now) else {
                break;
            };
            self.put_on_link(c, false, epoch, p);
        }
    }

    pub(super) fn server_event(&mut self, c: usize, epoch: u64, e: Event) {
        if self.server.conns[c].as_ref().map(|sc| sc.epoch) != Some(epoch) {
            return;
        }
        let id = ClientId(c as u32);
        match e {
            Event::Sender(SenderEvent::Acked {
                stream, version, ..
            }) => {
                // The client's app committed it: the checker holds the
                // library to that.
                self.checker.acked_down(id, stream, version);
                self.progress_made()
            }
            Event::Sender(SenderEvent::Skipped { stream, version }) => {
                // Not stored by the client's app: it stays in the store,
                // where the client fetches it (history or sync).
                self.counters.skipped_down += 1;
                self.checker.skipped(id, stream, version);
            }
            Event::Sender(SenderEvent::SyncRequested(req)) => self.answer_store(c, req),
            Event::Sender(SenderEvent::Escalated(m)) if self.cfg.resend_escalated => {
                // Pushed again a while later on the same connection.
                self.counters.escalations_resent += 1;
                let at = self.now + self.cfg.reconnect_delay.max(Duration::from_millis(100));
                self.at(
                    at,
                    Ev::Repush {
                        client: c,
                        epoch,
                        msg: m,
                    },
                );
            }
            Event::Receiver(ReceiverEvent::Datagram(m)) => self.server_datagram(c, m),
            Event::Sender(
                SenderEvent::Escalated(_)
                | SenderEvent::PeerDead { .. }
                | SenderEvent::Closed { .. },
            ) => {
                // The message is in the store; the client's sync on the next
                // connection fetches it (M3: escalate, drop the connection).
                self.disconnect(c);
            }
            Event::Receiver(ReceiverEvent::Deliver(m)) => self.server_deliver(c, epoch, m),
            Event::Receiver(ReceiverEvent::PackageExpired { after, last, .. }) => {
                self.server.passed.entry(c).or_default().push((after, last));
            }
            Event::Receiver(ReceiverEvent::ReceiptWanted { stream, version }) => {
                // A resend of something committed before this connection:
                // the receipt comes from the store. Not there: a tombstone
                // (committed, storing nothing), answered with version 0,
                // which its author ignores — and which the checker reports
                // as a wrong receipt for anything but a tombstone.
                let key = ReceiptKey {
                    client: c as u64,
                    outbox: version,
                };
                let receipt = match self.server.store.receipt(key) {
                    Ok(receipt) => receipt.unwrap_or_default(),
                    Err(e) => return self.fail(e),
                };
                if let Some(sc) = self.server.conns[c].as_mut() {
                    if let Err(e) =
                        sc.conn
                            .provide_receipt(stream, version, encode_receipt(receipt))
                    {
                        self.fail(SimError::Driver(format!("server receipt: {e}")));
                    }
                }
            }
            _ => {}
        }
    }

    /// A client asks for stored messages of a conversation: a page read
    /// from the store, or an empty one for a conversation it is not in.
    pub(super) fn answer_store(&mut self, c: usize, req: SyncRequest) {
        let now = self.now;
        let member = self.clients[c].conversations.contains(&req.stream);
        let page = if member {
            match self.server.store.read(req.stream, req.range, req.limit) {
                Ok(page) => page,
                Err(e) => return self.fail(e),
            }
        } else {
            Page::default()
        };
        let Some(sc) = self.server.conns[c].as_mut() else {
            return;
        };
        match sc
            .conn
            .answer_sync_trimmed(now, &req, page.trimmed, &page.messages, page.more)
        {
            Ok(()) => {
                self.counters.sync_pages += 1;
                self.counters.sync_messages += page.messages.len() as u64;
            }
            Err(SendError::Backpressure) => {}
            Err(e) => self.fail(SimError::Driver(format!("server answer_sync: {e}"))),
        }
    }

    /// A typing datagram from client `c`: relayed at most once to the
    /// conversation's other connected members.
    pub(super) fn server_datagram(&mut self, c: usize, m: Message) {
        let now = self.now;
        let Some(origin) = decode_datagram(&m.payload).filter(|o| o.client.0 as usize == c) else {
            let e = SimError::Driver(format!("client {c} sent a foreign datagram {m:?}"));
            return self.fail(e);
        };
        self.counters.datagrams_received += 1;
        self.checker.datagram_received(None, origin);
        // Typing in a conversation: its other members see it (all of the
        // author's conversations here, the simulation does not say which).
        let mut to: Vec<usize> = Vec::new();
        for k in &self.clients[c].conversations {
            for member in &self.members[(k.0 - 1) as usize] {
                let i = member.0 as usize;
                if i != c && !to.contains(&i) {
                    to.push(i);
                }
            }
        }
        to.sort_unstable();
        for i in to {
            if let Some(sc) = self.server.conns[i].as_mut() {
                // Dropped under backpressure: at most once.
                let _ = sc.conn.send(now, m.clone());
            }
        }
    }

    /// An upstream message reached the server app: it is written to the
    /// store (which takes a while), then pushed and committed. A package's
    /// members come one after another and are written together; a read
    /// marker is applied at once; a tombstone is committed, storing
    /// nothing.
    pub(super) fn server_deliver(&mut self, c: usize, epoch: u64, m: Message) {
        let now = self.now;
        let id = ClientId(c as u32);
        let outbox = outbox_stream(id);
        if m.stream == marker_stream(id) {
            // Applied idempotently (a read position only moves forward).
            self.counters.markers_received += 1;
            self.checker.at_least_once_received(Origin {
                client: id,
                stream: m.stream,
                version: m.version,
            });
            self.progress_made();
            if let Some(sc) = self.server.conns[c].as_mut() {
                if let Err(e) = sc.conn.commit(now, m.stream, m.version) {
                    self.fail(SimError::Driver(format!("server commit marker: {e}")));
                }
            }
            return;
        }
        let decoded = decode_payload(&m.payload);
        let Some((conversation, ..)) = decoded.filter(|_| m.stream == outbox) else {
            let e = SimError::Driver(format!("client {c} sent a foreign message {m:?}"));
            self.fail(e);
            return;
        };
        if conversation == VOID {
            if let Some(sc) = self.server.conns[c].as_mut() {
                let receipt = encode_receipt(Version::ZERO);
                if let Err(e) = sc.conn.commit_with_receipt(now, outbox, m.version, receipt) {
                    self.fail(SimError::Driver(format!("server commit tombstone: {e}")));
                }
            }
            return;
        }
        if !self.clients[c].conversations.contains(&conversation) {
            let e = SimError::Driver(format!("client {c} is not in {conversation:?}"));
            self.fail(e);
            return;
        }
        let members = match (m.package, self.server.conns[c].as_mut()) {
            (Some(p), Some(sc)) => {
                let last = m.version == p.last;
                sc.assembling.push(m);
                if !last {
                    return;
                }
                core::mem::take(&mut sc.assembling)
            }
            _ => alloc::vec![m],
        };
        let upstream = Upstream {
            client: c,
            epoch,
            conversation,
            members: members
                .into_iter()
                .map(|m| (m.version, m.payload))
                .collect(),
        };
        let delay = self.rng.duration_upto(self.cfg.store_delay);
        let (at, ticket) = self.server.store.begin_write(self.now, delay);
        self.at(at, Ev::StoreWrite { ticket, upstream });
    }

    /// A store write is due: unless it died in a crash, the message is
    /// appended now.
    pub(super) fn store_write(&mut self, ticket: WriteTicket, u: Upstream) {
        if self.server.store.land(ticket) {
            self.store_message(u);
        }
    }

    /// Stores an upstream message once (the store keeps its receipt key,
    /// the client and its outbox version, in the same append), pushes it to
    /// the conversation's connected members, and commits it on the
    /// connection it came from, which acks it to the author with the
    /// version it was stored under.
    pub(super) fn store_message(&mut self, u: Upstream) {
        let now = self.now;
        let c = u.client;
        let key = |outbox| ReceiptKey {
            client: c as u64,
            outbox,
        };
        // A resend of a message the server skipped: if that one was stored
        // after all (its write was on its way), this is a duplicate of it
        // (a package is stored whole or not at all: its first member says).
        let mut originals = Vec::new();
        for (_, payload) in &u.members {
            let o = decode_payload(payload).map_or(0, |p| p.3);
            let stored = match o {
                0 => None,
                o => match self.server.store.receipt(key(Version(o))) {
                    Ok(v) => v,
                    Err(e) => return self.fail(e),
                },
            };
            originals.push(stored);
        }
        let appended: Vec<Appended> = if originals.first().is_some_and(Option::is_some) {
            originals
                .iter()
                .map(|v| Appended::Duplicate(v.unwrap_or_default()))
                .collect()
        } else if u.members.len() == 1 {
            let (ov, payload) = u.members[0].clone();
            match self.server.store.append(u.conversation, payload, key(ov)) {
                Ok(appended) => alloc::vec![appended],
                Err(e) => return self.fail(e),
            }
        } else {
            let members: Vec<(Bytes, ReceiptKey)> = u
                .members
                .iter()
                .map(|(ov, p)| (p.clone(), key(*ov)))
                .collect();
            let appended = self.server.store.append_package(u.conversation, &members);
            if matches!(appended.first(), Some(Appended::New(_))) {
                self.counters.packages += 1;
            }
            appended
        };
        let author = ClientId(c as u32);
        let outbox = outbox_stream(author);
        for (&(ov, _), appended) in u.members.iter().zip(&appended) {
            match appended {
                Appended::Duplicate(_) => self.counters.deduped += 1,
                Appended::New(msg) => {
                    let origin = Origin {
                        client: author,
                        stream: outbox,
                        version: ov,
                    };
                    let origins = self.server.origins.entry(msg.stream).or_default();
                    origins.insert(msg.version, origin);
                    self.counters.stored += 1;
                    self.trace.num(0x570);
                    self.trace.num(msg.stream.0);
                    self.trace.num(msg.version.0);
                    self.progress_made();
                    let k = (u.conversation.0 - 1) as usize;
                    for m in &self.members[k] {
                        if let Some(sc) = self.server.conns[m.0 as usize].as_mut() {
                            sc.backlog.push_back(msg.clone());
                        }
                    }
                }
            }
            if let Some(sc) = self.server.conns[c]
                .as_mut()
                .filter(|sc| sc.epoch == u.epoch)
            {
                // The receipt tells the author where its message was stored,
                // the first time or not.
                let receipt = encode_receipt(appended.version());
                if let Err(e) = sc.conn.commit_with_receipt(now, outbox, ov, receipt) {
                    let e = SimError::Driver(format!("server commit {outbox:?}/{ov:?}: {e}"));
                    self.fail(e);
                }
            }
        }
    }
}
