//! History paging on a client: ranges it must fetch (older messages after
//! a `resume_latest` start, a package given up) are queued durably and
//! fetched a page at a time.

use super::World;
use crate::message::{Message, StreamId, Version};
use crate::sim::check::ClientId;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

impl World {
    /// The app must fetch the stored versions in `(after, before)` of
    /// `stream` as history: queued durably, asked for when it is first.
    pub(super) fn want_history(
        &mut self,
        c: usize,
        stream: StreamId,
        after: Version,
        before: Version,
    ) {
        let cl = &mut self.clients[c];
        let ranges = cl.db.missing.entry(stream).or_default();
        ranges.push_back((after, before));
        if ranges.len() == 1 {
            self.ask_history(c, stream);
        }
    }

    /// Asks for the next history page of `stream`'s first missing range.
    pub(super) fn ask_history(&mut self, c: usize, stream: StreamId) {
        let page = self.cfg.history_page;
        let cl = &mut self.clients[c];
        let Some(&(_, before)) = cl.db.missing.get(&stream).and_then(VecDeque::front) else {
            return;
        };
        if let Some(cc) = cl.conn.as_mut() {
            cc.conn.fetch_history(stream, before, page);
            cc.history.insert(stream, before);
        }
    }

    /// A history page: its messages in the missing range are stored (at
    /// once), and the range shrinks to what is older, or is done.
    pub(super) fn history_page(
        &mut self,
        c: usize,
        stream: StreamId,
        before: Version,
        messages: Vec<Message>,
        more: bool,
    ) {
        let id = ClientId(c as u32);
        let cl = &mut self.clients[c];
        let asked = cl
            .conn
            .as_ref()
            .and_then(|cc| cc.history.get(&stream))
            .copied();
        let Some(ranges) = cl.db.missing.get_mut(&stream) else {
            return;
        };
        let Some(&(after, wanted)) = ranges.front() else {
            return;
        };
        if asked != Some(before) || wanted != before {
            return; // an answer to an earlier request
        }
        self.counters.history_pages += 1;
        let stored = cl.db.history.entry(stream).or_default();
        for m in messages.iter().filter(|m| m.version > after) {
            stored.push(m.version);
            self.checker.history(id, stream, m.version);
            self.counters.history_messages += 1;
        }
        let done = match messages.first() {
            Some(first) => !more || first.prev <= after,
            None => true,
        };
        if done {
            ranges.pop_front();
        } else if let Some(first) = messages.first() {
            ranges[0].1 = first.version;
        }
        self.trace.num(0x4157);
        self.trace.num(before.0);
        self.progress_made();
        self.ask_history(c, stream);
    }
}
