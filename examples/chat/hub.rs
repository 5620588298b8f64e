//! One server process's fan-out: which of its connections are in which
//! conversation, the newest messages of each (shared by every member's
//! connection), and the highest version seen of every conversation.
//!
//! Messages come in from this server's own appends (at once) and from the
//! store's notifications (other servers' appends, and this server's own
//! again, which are recognised and dropped). A connection is woken with
//! the conversations that gained something and takes the new messages from
//! here; only when the ring of recent messages does not reach back to what
//! it pushed last does it read the store. An idle connection costs the
//! store nothing.

use ackwire::{Message, Version};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Messages kept per conversation with members here: enough for bursts;
/// a connection further behind reads the store.
const RECENT: usize = 64;

#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    conversations: HashMap<u64, Conversation>,
    /// The highest version known to have existed, per conversation: what
    /// the store said, what was appended, what clients hold. Never lowered;
    /// kept for every conversation seen (16 bytes each), because it is the
    /// evidence that keeps versions from going backwards after the store
    /// lost data.
    floors: HashMap<u64, Version>,
    next_id: u64,
}

#[derive(Default)]
struct Conversation {
    /// A contiguous chain (each `prev` is the version before it), newest
    /// last; cleared when a message does not follow it.
    recent: VecDeque<Message>,
    members: HashMap<u64, Arc<Inbox>>,
}

/// Where a connection learns which conversations gained messages.
#[derive(Default)]
pub struct Inbox {
    /// Bounded by the connection's conversations.
    dirty: Mutex<BTreeSet<u64>>,
    pub notify: Notify,
}

impl Inbox {
    pub fn take(&self) -> BTreeSet<u64> {
        std::mem::take(&mut *lock(&self.dirty))
    }

    fn mark(&self, conversation: u64) {
        lock(&self.dirty).insert(conversation);
        self.notify.notify_one();
    }
}

/// A connection's membership; leaving is dropping it.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    conversations: Vec<u64>,
    pub inbox: Arc<Inbox>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        for c in &self.conversations {
            if let Some(conv) = inner.conversations.get_mut(c) {
                conv.members.remove(&self.id);
                if conv.members.is_empty() {
                    inner.conversations.remove(c);
                }
            }
        }
    }
}

/// What a connection should push after a version.
pub enum Recent {
    /// Every message after it (possibly none), from the ring.
    Messages(Vec<Message>),
    /// The ring does not reach back that far: read the store.
    ReadStore,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    pub fn subscribe(self: &Arc<Self>, conversations: &[u64]) -> Subscription {
        let inbox = Arc::new(Inbox::default());
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        for &c in conversations {
            inner
                .conversations
                .entry(c)
                .or_default()
                .members
                .insert(id, inbox.clone());
        }
        drop(inner);
        Subscription {
            hub: self.clone(),
            id,
            conversations: conversations.to_vec(),
            inbox,
        }
    }

    /// A message now stored. Wakes the conversation's members here.
    pub fn publish(&self, m: &Message) {
        let c = m.stream.0;
        let mut inner = self.lock();
        let floor = inner.floors.entry(c).or_default();
        *floor = (*floor).max(m.version);
        let Some(conv) = inner.conversations.get_mut(&c) else {
            return;
        };
        match conv.recent.back() {
            // Seen (this server's own append, notified back) or late.
            Some(last) if m.version <= last.version => return,
            Some(last) if m.prev == last.version => {}
            // Not contiguous: what lies between is in the store only.
            _ => conv.recent.clear(),
        }
        conv.recent.push_back(m.clone());
        if conv.recent.len() > RECENT {
            conv.recent.pop_front();
        }
        for inbox in conv.members.values() {
            inbox.mark(c);
        }
    }

    /// The messages of `conversation` after `after`, if the ring holds all
    /// of them.
    pub fn recent_after(&self, conversation: u64, after: Version) -> Recent {
        let inner = self.lock();
        let Some(conv) = inner.conversations.get(&conversation) else {
            return Recent::ReadStore;
        };
        match (conv.recent.front(), conv.recent.back()) {
            (_, Some(last)) if last.version <= after => Recent::Messages(Vec::new()),
            (Some(first), _) if first.prev <= after => Recent::Messages(
                conv.recent
                    .iter()
                    .filter(|m| m.version > after)
                    .cloned()
                    .collect(),
            ),
            _ => Recent::ReadStore,
        }
    }

    /// Forgets every ring and wakes every member of every conversation:
    /// after the notifications were interrupted, each connection reads the
    /// store once for what it missed.
    pub fn resync(&self) {
        let mut inner = self.lock();
        for (&c, conv) in inner.conversations.iter_mut() {
            conv.recent.clear();
            for inbox in conv.members.values() {
                inbox.mark(c);
            }
        }
    }

    pub fn floor(&self, conversation: u64) -> Version {
        self.lock()
            .floors
            .get(&conversation)
            .copied()
            .unwrap_or_default()
    }

    /// Raises the evidence; `true` if it rose.
    pub fn raise_floor(&self, conversation: u64, v: Version) -> bool {
        let mut inner = self.lock();
        let floor = inner.floors.entry(conversation).or_default();
        let rose = v > *floor;
        *floor = (*floor).max(v);
        rose
    }

    /// Every floor, to write back to a store that may have lost them.
    pub fn floors(&self) -> Vec<(u64, Version)> {
        self.lock().floors.iter().map(|(&c, &v)| (c, v)).collect()
    }
}
