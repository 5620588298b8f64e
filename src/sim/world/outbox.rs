//! A client's outbox: every message its user sent, durable, versioned by
//! the client's own counter, handed to each connection until the server
//! confirms it, and resent under new versions when the server skipped it.

use super::client::ClientDb;
use super::payload::{decode_receipt, encode_payload, VOID};
use super::World;
use crate::error::SendError;
use crate::message::{Message, Package, StreamId, Version};
use crate::sim::check::ClientId;
use crate::sim::scenario::{outbox_stream, SimError};
use crate::sync::{SyncRange, SyncRequest};
use crate::time::Instant;
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;

/// An outbox entry: a message the user sent.
pub(super) struct OutboxEntry {
    pub(super) conversation: StreamId,
    pub(super) payload: Bytes,
    /// Its place in a package, in outbox versions.
    pub(super) package: Option<Package>,
}

impl World {
    /// The user sends a message (or `size` of them as a package): the app
    /// writes it to its outbox (durable) first; the connection picks it up
    /// from there.
    pub(super) fn app_send(&mut self, c: usize, conversation: StreamId, size: u32) {
        self.outbox_append(c, conversation, size, None);
        self.counters.sent += u64::from(size);
    }

    /// Appends `size` entries to `c`'s outbox (a package if more than one);
    /// `resending` names the outbox versions they resend, one per entry.
    pub(super) fn outbox_append(
        &mut self,
        c: usize,
        conversation: StreamId,
        size: u32,
        resending: Option<&[u64]>,
    ) {
        let now = self.now;
        let db = &mut self.clients[c].db;
        let first = db.outbox.len() as u64 + 1;
        let last = first + u64::from(size) - 1;
        for i in 0..size {
            let ov = first + u64::from(i);
            let original = resending
                .and_then(|r| r.get(i as usize))
                .copied()
                .unwrap_or(0);
            let payload = encode_payload(conversation, c as u32, now, ov, original);
            let package = (size > 1).then(|| Package::new(first, i, size, Version(last)));
            db.outbox.push(OutboxEntry {
                conversation,
                payload,
                package,
            });
            self.trace.num(0x5E4D);
            self.trace.num(c as u64);
            self.trace.num(ov);
        }
    }

    /// The server did not store outbox message `version` (its receiver
    /// gave it up: a package that stayed incomplete). The app resends it —
    /// the whole package — under new versions, naming the ones it resends,
    /// and voids the old entries, which keep their place in the chain.
    pub(super) fn outbox_skipped(&mut self, c: usize, version: Version) {
        self.counters.skipped_up += 1;
        let db = &self.clients[c].db;
        let ov = version.0;
        if db.acked.contains(&ov) || db.skipped.contains_key(&ov) {
            return;
        }
        let Some(e) = ov.checked_sub(1).and_then(|i| db.outbox.get(i as usize)) else {
            return;
        };
        let (first, count) = match e.package {
            Some(p) => (p.id, u64::from(p.count)),
            None => (ov, 1),
        };
        let conversation = e.conversation;
        let old: Vec<u64> = (first..first + count).collect();
        let next = db.outbox.len() as u64 + 1;
        self.outbox_append(c, conversation, count as u32, Some(&old));
        let db = &mut self.clients[c].db;
        for (i, &o) in old.iter().enumerate() {
            db.skipped.insert(o, next + i as u64);
            let e = &mut db.outbox[o as usize - 1];
            e.payload = encode_payload(VOID, c as u32, Instant::ZERO, o, 0);
        }
        // Progress for the app (it resends); a package that can never be
        // delivered would skip and resend until `max_steps`, which is why
        // packages must fit the window (see `SimConfig::max_package`).
        self.progress_made();
    }

    /// The server stored outbox message `version`: the client records it
    /// (durably: the user sees it as sent).
    pub(super) fn outbox_acked(&mut self, c: usize, version: Version, receipt: Option<Bytes>) {
        // The receipt says where the server stored it (M14); the outbox
        // keeps it with the confirmation.
        let db = &self.clients[c].db;
        if db.skipped.contains_key(&version.0) {
            return; // a tombstone's ack: it was voided, and resent
        }
        let conversation = version
            .0
            .checked_sub(1)
            .and_then(|i| db.outbox.get(i as usize))
            .map(|e| e.conversation);
        let stored = receipt.as_deref().and_then(decode_receipt);
        let (Some(conversation), Some(stored)) = (conversation, stored) else {
            let e =
                format!("client {c}: outbox {version:?} acked without a receipt, or never sent");
            self.fail(SimError::Driver(e));
            return;
        };
        let db = &mut self.clients[c].db;
        db.receipts.insert(version.0, (conversation, stored));
        if db.acked.insert(version.0) {
            self.counters.acked += 1;
            self.progress_made();
        }
    }

    /// The server asks for the client's outbox after `after`.
    pub(super) fn answer_outbox(&mut self, c: usize, req: SyncRequest) {
        let now = self.now;
        if req.stream != outbox_stream(ClientId(c as u32)) {
            // Nothing else has a chain to sync (markers are unordered).
            if let Some(cc) = self.clients[c].conn.as_mut() {
                let _ = cc.conn.answer_sync(now, &req, &[], false);
            }
            return;
        }
        let cl = &mut self.clients[c];
        let len = cl.db.outbox.len() as u64;
        let limit = u64::from(req.limit);
        let (from, to, more) = match req.range {
            SyncRange::After(a) => {
                let from = a.0.min(len) + 1;
                let to = (from + limit).min(len + 1);
                (from, to, to <= len)
            }
            SyncRange::Latest => {
                let from = len.saturating_sub(limit) + 1;
                (from, len + 1, from > 1)
            }
            SyncRange::Before(b) => {
                let to = b.0.min(len + 1).max(1);
                let from = to.saturating_sub(limit).max(1);
                (from, to, from > 1)
            }
        };
        let page: Vec<Message> = (from..to).map(|ov| cl.db.outbox_message(c, ov)).collect();
        let Some(cc) = cl.conn.as_mut() else { return };
        match cc.conn.answer_sync(now, &req, &page, more) {
            Ok(()) => {
                self.counters.sync_pages += 1;
                self.counters.sync_messages += page.len() as u64;
            }
            Err(SendError::Backpressure) => {} // asked again after sync_retry
            Err(e) => self.fail(SimError::Driver(format!("client {c} answer_sync: {e}"))),
        }
    }
}

impl ClientDb {
    /// The outbox entry `ov` as a message on client `c`'s outbox stream:
    /// the database alone says what it was, so every connection hands over
    /// the same message.
    pub(super) fn outbox_message(&self, c: usize, ov: u64) -> Message {
        let e = &self.outbox[ov as usize - 1];
        let outbox = outbox_stream(ClientId(c as u32));
        let m =
            Message::new(outbox, Version(ov - 1), Version(ov), e.payload.clone()).with_receipt();
        match e.package {
            Some(p) => m.with_package(p),
            None => m,
        }
    }
}
