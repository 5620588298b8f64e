//! Connections come and go: every (re)connection is a new [`Connection`]
//! on both ends, the client resuming from its database and the server
//! from its store; a crash, a partition or a give-up tears one down.

use super::client::ClientConn;
use super::server::ServerConn;
use super::stats::{add_receiver, add_sender};
use super::{Ev, World};
use crate::connection::Connection;
use crate::message::Version;
use crate::packet::ConnectionId;
use crate::sim::check::ClientId;
use crate::sim::scenario::outbox_stream;
use crate::store::ReceiptKey;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

/// A new connection of `config` whose identity is its epoch: both ends use
/// it, and a packet of an earlier connection is rejected by it.
pub(super) fn new_connection(config: &crate::config::Config, epoch: u64) -> Connection {
    Connection::new(config.clone(), ConnectionId(epoch))
}

impl World {
    pub(super) fn schedule_reconnect(&mut self, c: usize, min: Duration) {
        let cl = &mut self.clients[c];
        if cl.reconnect_scheduled || !cl.up {
            return;
        }
        cl.reconnect_scheduled = true;
        let life = cl.life;
        let delay = min + self.rng.duration_upto(self.cfg.reconnect_delay);
        self.at(self.now + delay, Ev::Reconnect { client: c, life });
    }

    pub(super) fn reconnect(&mut self, c: usize, life: u64) {
        let cl = &mut self.clients[c];
        if cl.life != life {
            return;
        }
        cl.reconnect_scheduled = false;
        if !cl.up || cl.conn.is_some() {
            return;
        }
        // The client app resumes from its database, so it finishes its
        // writes first; the server must be up and the link working.
        if !self.server.up || self.link_down[c] > 0 || cl.writes_pending > 0 {
            let wait = self.cfg.reconnect_delay / 2;
            self.schedule_reconnect(c, wait);
            return;
        }
        self.connect(c);
    }

    /// A new connection: a fresh pair on both ends (SIDs start at 0), the
    /// client resuming every conversation from its database and handing
    /// over its unconfirmed outbox, the server resuming the client's outbox
    /// stream from its store.
    pub(super) fn connect(&mut self, c: usize) {
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        self.counters.connections += 1;
        self.trace.num(0xC022);
        self.trace.num(c as u64);
        let bugs = self.cfg.app_bugs;
        let mut client = new_connection(&self.cfg.protocol, epoch);
        let cl = &mut self.clients[c];
        for &k in &cl.conversations {
            if self.cfg.contiguous_conversations {
                client.set_contiguous(k, true);
            }
            if bugs.skip_resume {
                continue;
            }
            let pos = if bugs.cursor_before_store {
                cl.db.cursor.get(&k).copied().unwrap_or_default()
            } else {
                cl.db.last(k)
            };
            for &(after, last) in cl.db.passed.get(&k).into_iter().flatten() {
                client.pass_over(k, after, last);
            }
            match cl.db.started.get(&k) {
                Some(&after) => client.resume_started(k, after, pos),
                // A reinstalled device starts an empty conversation from
                // its newest messages, the rest is history.
                None if cl.db.fresh && pos == Version::ZERO => {
                    client.resume_latest(k, self.cfg.latest)
                }
                None => client.resume(k, pos),
            }
        }
        let mut history = BTreeMap::new();
        for (&k, ranges) in &cl.db.missing {
            if let Some(&(_, before)) = ranges.front() {
                client.fetch_history(k, before, self.cfg.history_page);
                history.insert(k, before);
            }
        }
        cl.conn = Some(ClientConn {
            conn: client,
            epoch,
            handed: 0,
            markers_handed: 0,
            history,
            resends: VecDeque::new(),
            package: Vec::new(),
        });
        let mut server = new_connection(&self.cfg.protocol, epoch);
        let outbox = outbox_stream(ClientId(c as u32));
        if self.cfg.contiguous_outbox {
            server.set_contiguous(outbox, true);
        }
        // Every outbox message up to the head is stored: resends of them
        // are duplicates from here on.
        let head = match self.server.store.outbox_head(c as u64) {
            Ok(head) => head,
            Err(e) => {
                self.fail(e);
                return;
            }
        };
        // A package given up on one connection may have been stored from
        // another's delivery after all (its write was on its way): the
        // store's receipt for its first member is the truth.
        for &(after, last) in self.server.passed.get(&c).into_iter().flatten() {
            let first = ReceiptKey {
                client: c as u64,
                outbox: Version(after.0 + 1),
            };
            match self.server.store.receipt(first) {
                Ok(None) => server.pass_over(outbox, after, last),
                Ok(Some(_)) => {}
                Err(e) => return self.fail(e),
            }
        }
        server.resume(outbox, head);
        self.server.conns[c] = Some(ServerConn {
            conn: server,
            epoch,
            backlog: VecDeque::new(),
            assembling: Vec::new(),
        });
    }

    /// Both ends drop the connection (as after a reset); a client that is
    /// up tries to connect again.
    pub(super) fn disconnect(&mut self, c: usize) {
        let mut any = false;
        if let Some(cc) = self.clients[c].conn.take() {
            add_sender(&mut self.counters.up, cc.conn.sender().stats());
            add_receiver(&mut self.counters.client_rx, cc.conn.receiver().stats());
            any = true;
        }
        if let Some(sc) = self.server.conns[c].take() {
            add_sender(&mut self.counters.down, sc.conn.sender().stats());
            add_receiver(&mut self.counters.server_rx, sc.conn.receiver().stats());
            any = true;
        }
        if any {
            self.counters.disconnects += 1;
            self.trace.num(0xD15C);
            self.trace.num(c as u64);
        }
        self.schedule_reconnect(c, Duration::ZERO);
    }
}
