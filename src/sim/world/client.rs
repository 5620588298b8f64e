//! The simulated client app: its database (what survives a crash), its
//! half of the connection, what its user does, and how it handles the
//! connection's events and writes deliveries to its database.

use super::outbox::OutboxEntry;
use super::payload::{decode_datagram, decode_payload, encode_datagram};
use super::{Ev, World};
use crate::connection::{Connection, Event};
use crate::error::SendError;
use crate::message::{Message, Qos, StreamId, Version};
use crate::receiver::ReceiverEvent;
use crate::sender::SenderEvent;
use crate::sim::check::{ClientId, Origin};
use crate::sim::report::Delivery;
use crate::sim::scenario::{marker_stream, outbox_stream, typing_stream, Action, SimError};
use crate::time::Instant;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

pub(super) struct Client {
    pub(super) up: bool,
    /// Bumped by every crash: work scheduled by an earlier life is void.
    pub(super) life: u64,
    pub(super) db: ClientDb,
    pub(super) conn: Option<ClientConn>,
    pub(super) conversations: Vec<StreamId>,
    pub(super) writes_pending: usize,
    pub(super) write_tail: Instant,
    /// Messages the user sent while the app was down: sent on restart.
    pub(super) deferred: VecDeque<Action>,
    /// Typing datagrams sent (their ids).
    pub(super) typing: u64,
    pub(super) reconnect_scheduled: bool,
}

/// One side's half of a connection: the client's.
pub(super) struct ClientConn {
    pub(super) conn: Connection,
    pub(super) epoch: u64,
    /// The highest outbox version handed to `conn` (or skipped as acked).
    pub(super) handed: u64,
    /// The highest marker handed to `conn`.
    pub(super) markers_handed: u64,
    /// The history page asked for per conversation: its `before`.
    pub(super) history: BTreeMap<StreamId, Version>,
    /// Escalated messages to send again, refused for backpressure so far.
    pub(super) resends: VecDeque<Message>,
    /// The members of a package delivered so far: written together with
    /// its last.
    pub(super) package: Vec<Version>,
}

/// What a client keeps across crashes.
#[derive(Default)]
pub(super) struct ClientDb {
    /// Committed messages per conversation, in the order written.
    pub(super) streams: BTreeMap<StreamId, Vec<Version>>,
    /// The read position saved at delivery (only with the
    /// `cursor_before_store` bug).
    pub(super) cursor: BTreeMap<StreamId, Version>,
    /// Every message the user sent: outbox version `i + 1` at index `i`.
    pub(super) outbox: Vec<OutboxEntry>,
    /// Outbox versions the server confirmed.
    pub(super) acked: BTreeSet<u64>,
    /// Outbox versions the server reported skipped (not stored), each with
    /// the version it was resent as.
    pub(super) skipped: BTreeMap<u64, u64>,
    /// Messages stored from history pages, per conversation.
    pub(super) history: BTreeMap<StreamId, Vec<Version>>,
    /// Where a conversation started (`ReceiverEvent::Started`), if it began
    /// with `resume_latest`.
    pub(super) started: BTreeMap<StreamId, Version>,
    /// The last version of the latest package given up per conversation:
    /// the stream's position is past it (it comes as history).
    pub(super) passed_to: BTreeMap<StreamId, Version>,
    /// Every package given up per conversation, `(after, last]`: told to
    /// each new connection, so pushes of them are never taken as stored.
    pub(super) passed: BTreeMap<StreamId, Vec<(Version, Version)>>,
    /// The highest version per conversation the app was told the server's
    /// store no longer keeps (`ReceiverEvent::Trimmed`): stored messages up
    /// to it (and to the store's cut) it may never get.
    pub(super) told_trimmed: BTreeMap<StreamId, Version>,
    /// Versions still to fetch as history, per conversation: ranges
    /// `(after, before)`, the first being fetched.
    pub(super) missing: BTreeMap<StreamId, VecDeque<(Version, Version)>>,
    /// Read markers sent (versions `1..=markers` of the marker stream).
    pub(super) markers: u64,
    /// Read markers the server acknowledged.
    pub(super) markers_acked: BTreeSet<u64>,
    /// The database was wiped by a reinstall: conversations without a
    /// position start from their latest messages.
    pub(super) fresh: bool,
    /// Where each confirmed message was stored: the conversation it was
    /// sent to and the version its receipt named (M14).
    pub(super) receipts: BTreeMap<u64, (StreamId, Version)>,
}

impl ClientDb {
    /// The stream's position: the last version committed live, or past a
    /// package given up (fetched as history).
    pub(super) fn last(&self, stream: StreamId) -> Version {
        let live = self
            .streams
            .get(&stream)
            .and_then(|v| v.last())
            .copied()
            .unwrap_or(Version::ZERO);
        live.max(self.passed_to.get(&stream).copied().unwrap_or_default())
    }

    /// Messages of `stream` held, live and from history.
    pub(super) fn held(&self, stream: StreamId) -> usize {
        self.streams.get(&stream).map_or(0, Vec::len)
            + self.history.get(&stream).map_or(0, Vec::len)
    }

    /// Outbox entries settled: stored (acked) or skipped and resent.
    pub(super) fn settled(&self) -> usize {
        self.acked.len()
            + self
                .skipped
                .keys()
                .filter(|v| !self.acked.contains(v))
                .count()
    }

    /// Whether nothing is left to fetch as history.
    pub(super) fn history_done(&self) -> bool {
        self.missing.values().all(VecDeque::is_empty)
    }

    /// A reinstall: the conversations are gone, the outbox stays.
    pub(super) fn wipe(&mut self) {
        self.streams.clear();
        self.cursor.clear();
        self.history.clear();
        self.started.clear();
        self.passed_to.clear();
        self.passed.clear();
        self.told_trimmed.clear();
        self.missing.clear();
        self.fresh = true;
    }
}

impl World {
    /// What the user does while the app is up.
    pub(super) fn user(&mut self, c: usize, a: Action) {
        match a {
            Action::Send { conversation, .. } => self.app_send(c, conversation, 1),
            Action::SendPackage {
                conversation, size, ..
            } => self.app_send(c, conversation, size),
            Action::Marker { .. } => {
                self.clients[c].db.markers += 1;
                self.trace.num(0x3A4C);
            }
            _ => {}
        }
    }

    /// The user types: a datagram, sent at once if connected (else
    /// nothing: typing is not kept for later).
    pub(super) fn typing(&mut self, c: usize, conversation: StreamId) {
        let now = self.now;
        let cl = &mut self.clients[c];
        let Some(cc) = cl.conn.as_mut().filter(|_| cl.up) else {
            return;
        };
        cl.typing += 1;
        let author = ClientId(c as u32);
        let stream = typing_stream(author);
        let m = Message::new(
            stream,
            Version::ZERO,
            Version(cl.typing),
            encode_datagram(c as u32, cl.typing),
        )
        .with_qos(Qos::AtMostOnce);
        let _ = conversation;
        if cc.conn.send(now, m).is_ok() {
            self.counters.datagrams_sent += 1;
            self.checker.datagram_sent(Origin {
                client: author,
                stream,
                version: Version(self.clients[c].typing),
            });
        }
    }

    /// `client` crashes (a `reinstall` wipes its conversations as well).
    pub(super) fn crash_client(&mut self, client: ClientId, down_for: Duration, reinstall: bool) {
        let c = client.0 as usize;
        if !self.clients[c].up {
            return;
        }
        self.counters.client_crashes += 1;
        self.trace.num(0xC0 + client.0 as u64);
        if reinstall {
            self.counters.reinstalls += 1;
            self.clients[c].db.wipe();
            self.checker.wiped(client);
        }
        let cl = &mut self.clients[c];
        cl.up = false;
        cl.life += 1;
        // A reconnect scheduled by the earlier life is void.
        cl.reconnect_scheduled = false;
        cl.writes_pending = 0;
        cl.write_tail = self.now;
        self.disconnect(c);
        self.at(self.now + down_for, Ev::ClientRestart(c));
    }

    pub(super) fn pump_client(&mut self, c: usize) {
        let now = self.now;
        let cl = &mut self.clients[c];
        let Some(cc) = cl.conn.as_mut() else { return };
        // Escalated messages again, first (same stream and version).
        while let Some(m) = cc.resends.front() {
            match cc.conn.send(now, m.clone()) {
                Ok(()) => {
                    cc.resends.pop_front();
                }
                Err(SendError::Backpressure) => break,
                Err(e) => {
                    let e = SimError::Driver(format!("client {c} resend: {e}"));
                    self.fail(e);
                    return;
                }
            }
        }
        // Hand the outbox over, oldest first: unconfirmed messages again
        // after a reconnect (same stream and version: the server dedups).
        // Tombstones (entries the server skipped, resent under new
        // versions) go too: they keep the chain whole, and the server
        // commits them storing nothing. Without them a new connection's
        // receiver, resumed below them, would wait for them behind a hole.
        while (cc.handed as usize) < cl.db.outbox.len() {
            let ov = cc.handed + 1;
            if cl.db.acked.contains(&ov) {
                cc.handed = ov;
                continue;
            }
            let m = cl.db.outbox_message(c, ov);
            match cc.conn.send(now, m) {
                Ok(()) => cc.handed = ov,
                Err(SendError::Backpressure) => break,
                Err(e) => {
                    let e = SimError::Driver(format!("client {c} send: {e}"));
                    self.fail(e);
                    return;
                }
            }
        }
        // Read markers, at least once: the unconfirmed ones again after a
        // reconnect.
        let markers = marker_stream(ClientId(c as u32));
        while cc.markers_handed < cl.db.markers {
            let n = cc.markers_handed + 1;
            if cl.db.markers_acked.contains(&n) {
                cc.markers_handed = n;
                continue;
            }
            let m = Message::new(markers, Version(n - 1), Version(n), Bytes::new())
                .with_qos(Qos::AtLeastOnce);
            match cc.conn.send(now, m) {
                Ok(()) => cc.markers_handed = n,
                Err(SendError::Backpressure) => break,
                Err(e) => {
                    let e = SimError::Driver(format!("client {c} marker: {e}"));
                    self.fail(e);
                    return;
                }
            }
        }
        let mut events = Vec::new();
        while let Some(e) = cc.conn.poll_event() {
            events.push(e);
        }
        let epoch = cc.epoch;
        for e in events {
            self.client_event(c, epoch, e);
        }
        while let Some(cc) = self.clients[c].conn.as_mut() {
            let epoch = cc.epoch;
            let Some(p) = cc.conn.poll_transmit(now) else {
                break;
            };
            self.put_on_link(c, true, epoch, p);
        }
    }

    pub(super) fn client_event(&mut self, c: usize, epoch: u64, e: Event) {
        if self.clients[c].conn.as_ref().map(|cc| cc.epoch) != Some(epoch) {
            return; // the connection went away while handling earlier events
        }
        let id = ClientId(c as u32);
        let outbox = outbox_stream(id);
        let markers = marker_stream(id);
        match e {
            Event::Sender(SenderEvent::Acked {
                stream,
                version,
                receipt,
            }) if stream == outbox => self.outbox_acked(c, version, receipt),
            Event::Sender(SenderEvent::Acked {
                stream, version, ..
            }) if stream == markers => self.marker_acked(c, version),
            Event::Sender(SenderEvent::Skipped { stream, version }) if stream == outbox => {
                self.outbox_skipped(c, version)
            }
            Event::Sender(SenderEvent::SyncRequested(req)) => self.answer_outbox(c, req),
            Event::Sender(SenderEvent::Escalated(m)) if self.cfg.resend_escalated => {
                // "Failed, tap to retry": the same message again, on the
                // same connection.
                self.counters.escalations_resent += 1;
                if let Some(cc) = self.clients[c].conn.as_mut() {
                    cc.resends.push_back(m);
                }
            }
            Event::Sender(
                SenderEvent::Escalated(_)
                | SenderEvent::PeerDead { .. }
                | SenderEvent::Closed { .. },
            ) => {
                // A connection that gave up on a message is torn down; the
                // next one hands the outbox over again.
                self.disconnect(c);
            }
            Event::Receiver(ReceiverEvent::Deliver(m)) => self.client_deliver(c, epoch, m),
            Event::Receiver(ReceiverEvent::Datagram(m)) => {
                if let Some(o) = decode_datagram(&m.payload) {
                    self.counters.datagrams_received += 1;
                    self.checker.datagram_received(Some(id), o);
                }
            }
            Event::Receiver(ReceiverEvent::Started { stream, after }) => {
                // Kept with the conversation (durable at once: it is where
                // the stream's copy begins), and what is older is history.
                let db = &mut self.clients[c].db;
                db.started.insert(stream, after);
                self.checker.started(id, stream, after);
                if after > Version::ZERO {
                    self.want_history(c, stream, Version::ZERO, Version(after.0 + 1));
                }
            }
            Event::Receiver(ReceiverEvent::PackageExpired {
                stream,
                after,
                last,
                ..
            }) => {
                // The receiver gave the package up (its sender hears
                // "skipped"); the app fetches it as history, and its
                // position is past it from now on.
                let db = &mut self.clients[c].db;
                let to = db.passed_to.entry(stream).or_default();
                *to = (*to).max(last);
                db.passed.entry(stream).or_default().push((after, last));
                self.checker.gave_up(id, stream, after, last);
                self.want_history(c, stream, after, Version(last.0 + 1));
            }
            Event::Receiver(ReceiverEvent::Trimmed {
                stream,
                after,
                through,
            }) => {
                // The server's store no longer keeps what is at or below
                // `through`. A sync passed over `(after, through]`: kept
                // with the conversation like a given-up package (told to
                // later connections), never fetched as history — it is
                // gone. A history page says only where history ends.
                let db = &mut self.clients[c].db;
                if after < through {
                    let to = db.passed_to.entry(stream).or_default();
                    *to = (*to).max(through);
                    db.passed.entry(stream).or_default().push((after, through));
                }
                let told = db.told_trimmed.entry(stream).or_default();
                *told = (*told).max(through);
                self.counters.trimmed += 1;
                self.checker.trimmed(id, stream, through);
            }
            Event::Receiver(ReceiverEvent::History {
                stream,
                before,
                messages,
                more,
            }) => self.history_page(c, stream, before, messages, more),
            _ => {}
        }
    }

    /// The server app received read marker `version` (at least once).
    pub(super) fn marker_acked(&mut self, c: usize, version: Version) {
        if self.clients[c].db.markers_acked.insert(version.0) {
            let id = ClientId(c as u32);
            self.checker
                .at_least_once_acked(id, marker_stream(id), version);
            self.progress_made();
        }
    }

    pub(super) fn client_deliver(&mut self, c: usize, epoch: u64, m: Message) {
        self.counters.delivered += 1;
        self.trace.num(0xDE1);
        self.trace.num(c as u64);
        self.trace.num(m.stream.0);
        self.trace.num(m.version.0);
        if let Some((_, author, sent_at, _)) = decode_payload(&m.payload) {
            if author as usize != c {
                self.deliveries.push(Delivery {
                    at: self.elapsed(),
                    latency: self.now - sent_at,
                });
            }
        }
        let bugs = self.cfg.app_bugs;
        let now = self.now;
        // A package's members come one after another; the app writes them
        // in one transaction with the last.
        let versions = match (m.package, self.clients[c].conn.as_mut()) {
            (Some(p), Some(cc)) => {
                cc.package.push(m.version);
                if m.version < p.last {
                    return;
                }
                core::mem::take(&mut cc.package)
            }
            _ => alloc::vec![m.version],
        };
        let delay = self.rng.duration_upto(self.cfg.commit_delay);
        let cl = &mut self.clients[c];
        if bugs.cursor_before_store {
            cl.db.cursor.insert(m.stream, m.version);
        }
        let mut at = now + delay;
        if !bugs.unordered_writes {
            // The app's database writes complete in the order they began.
            at = at.max(cl.write_tail);
            cl.write_tail = at;
        }
        cl.writes_pending += 1;
        let ev = Ev::DbWrite {
            client: c,
            life: cl.life,
            epoch,
            stream: m.stream,
            versions,
        };
        self.at(at, ev);
    }

    pub(super) fn db_write(
        &mut self,
        c: usize,
        life: u64,
        epoch: u64,
        stream: StreamId,
        versions: Vec<Version>,
    ) {
        let now = self.now;
        let cl = &mut self.clients[c];
        if cl.life != life {
            return; // the write died with the process
        }
        cl.writes_pending -= 1;
        cl.db.streams.entry(stream).or_default().extend(&versions);
        self.progress_made();
        for &version in &versions {
            self.counters.committed += 1;
            self.checker.committed(ClientId(c as u32), stream, version);
            self.trace.num(0xDB);
            self.trace.num(c as u64);
            self.trace.num(stream.0);
            self.trace.num(version.0);
            let cl = &mut self.clients[c];
            if let Some(cc) = cl.conn.as_mut().filter(|cc| cc.epoch == epoch) {
                if let Err(e) = cc.conn.commit(now, stream, version) {
                    let e =
                        SimError::Driver(format!("client {c} commit {stream:?}/{version:?}: {e}"));
                    self.fail(e);
                }
            }
        }
    }
}
