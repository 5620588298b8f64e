//! When a run is done: everything delivered, written and confirmed with
//! every process up; and, when it is not, what is still outstanding (the
//! text of a stall report).

use super::client::Client;
use super::World;
use crate::StreamId;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

impl World {
    /// Everything delivered, written and confirmed, with every process up
    /// and connected.
    pub(super) fn settled(&self) -> bool {
        let s = &self.server;
        if !s.up || s.store.writes_pending() > 0 {
            return false;
        }
        self.clients.iter().all(|c| {
            c.up && c.conn.is_some()
                && c.writes_pending == 0
                && c.deferred.is_empty()
                && c.db.settled() == c.db.outbox.len()
                && c.db.markers_acked.len() as u64 == c.db.markers
                && c.db.history_done()
                && c.conversations
                    .iter()
                    .all(|k| self.accounted(c, *k) >= s.stored(*k))
        })
    }

    /// Messages of `conversation` client `c` accounts for: those it holds,
    /// and the stored ones it lacks that retention trimmed and it was told
    /// of (`ReceiverEvent::Trimmed`) — up to both the store's cut and what
    /// it was told, never a message above either: that one is still owed.
    fn accounted(&self, c: &Client, conversation: StreamId) -> usize {
        let held = c.db.held(conversation);
        let told =
            c.db.told_trimmed
                .get(&conversation)
                .copied()
                .unwrap_or_default();
        if told.0 == 0 {
            return held;
        }
        let limit = told.min(self.server.store.trimmed(conversation));
        let Some(stored) = self.server.origins.get(&conversation) else {
            return held;
        };
        let mut have: BTreeSet<_> = BTreeSet::new();
        for versions in [
            c.db.streams.get(&conversation),
            c.db.history.get(&conversation),
        ]
        .into_iter()
        .flatten()
        {
            have.extend(versions.iter().copied().filter(|v| *v <= limit));
        }
        let gone = stored
            .range(..=limit)
            .filter(|(v, _)| !have.contains(*v))
            .count();
        held + gone
    }

    /// What is still outstanding, for a stall report (empty if nothing).
    pub(super) fn remaining(&self) -> String {
        let mut out = String::new();
        if self.script_left > 0 {
            out += &format!("{} scripted actions; ", self.script_left);
        }
        let s = &self.server;
        if !s.up {
            out += "server down; ";
        }
        if s.store.writes_pending() > 0 {
            out += &format!("server: {} store writes; ", s.store.writes_pending());
        }
        for (i, c) in self.clients.iter().enumerate() {
            let unacked = c.db.outbox.len() - c.db.settled();
            let markers = c.db.markers - c.db.markers_acked.len() as u64;
            let missing: usize = c
                .conversations
                .iter()
                .map(|k| s.stored(*k).saturating_sub(self.accounted(c, *k)))
                .sum();
            let history: usize = c.db.missing.values().map(VecDeque::len).sum();
            // Conversations of a reinstalled client still waiting for their
            // `resume_latest` start.
            let unstarted: Vec<u64> = c
                .conversations
                .iter()
                .filter(|k| c.db.fresh && !c.db.started.contains_key(k) && c.db.held(**k) == 0)
                .map(|k| k.0)
                .collect();
            if !c.up || c.conn.is_none() || unacked > 0 || missing > 0 || markers > 0 || history > 0
            {
                out += &format!(
                    "client {i}: {}{} unconfirmed sent, {markers} unconfirmed markers, \
                     {history} history ranges to fetch, {missing} stored messages missing, \
                     conversations not started {unstarted:?}; ",
                    if !c.up {
                        "down, "
                    } else if c.conn.is_none() {
                        "disconnected, "
                    } else {
                        ""
                    },
                    unacked
                );
                // What the connection holds, for the reader of a stall.
                if let (Some(cc), Some(sc)) = (c.conn.as_ref(), s.conns[i].as_ref()) {
                    out += &format!(
                        "(up: client sender {:?}, {} pending; down: server sender {:?}, {} pending, \
                         client receiver {:?}; next {:?} / {:?}) ",
                        cc.conn.sender().usage(),
                        cc.conn.sender().pending(),
                        sc.conn.sender().usage(),
                        sc.conn.sender().pending(),
                        cc.conn.receiver().usage(),
                        cc.conn.poll_timeout(),
                        sc.conn.poll_timeout(),
                    );
                }
            }
        }
        out
    }
}
