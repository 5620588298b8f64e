//! The independent checker: compares histories, knows nothing of how they
//! were produced.
//!
//! It takes plain records — what the server's store holds per stream (and
//! where each stored message came from), what each client app durably
//! committed, in commit order, and what it stored from history pages; where
//! a client's policy passed messages over (the start of a `resume_latest`
//! stream, a package given up); which downstream messages the server saw
//! acknowledged ([`acked_down`](Checker::acked_down)) or reported skipped
//! for each client; which of its own upstream messages each client saw
//! acknowledged or skipped (and resent); and the at-most-once and
//! at-least-once traffic beside — and reports every message lost,
//! duplicated, reordered, unknown, acknowledged without a commit or stored
//! from history without a reason, by client, stream and version. The
//! simulator feeds it at the end of a run; an app with its own driver can
//! feed it the same records from its own logs.
//!
//! The rules, per message:
//! - **`Acked` ⇒ committed.** A downstream `SenderEvent::Acked` for client
//!   `c` means `c`'s app committed the message (in any life of its
//!   database): else [`ViolationKind::AckedNotCommitted`].
//! - **Stored ⇒ at every member, once.** Each member's database (its
//!   current life) holds every stored message of the stream exactly once:
//!   committed live, in version order, or stored from a history page. A
//!   message that came only as history must be one the client's policy
//!   passed over — at or before its `resume_latest` start, or inside a
//!   package it gave up — else [`ViolationKind::Unexplained`] (the sender
//!   may or may not have heard `Skipped`: the report can be lost with its
//!   connection; it must never have heard `Acked`, which the first rule
//!   checks).
//! - **Upstream, exactly once.** Every sent (or acked) outbox message is
//!   stored once, in the author's order, where its receipt says. One the
//!   server reported `Skipped` (its receiver gave it up) must have been
//!   resent by its author under a new version; the two are one message,
//!   stored once between them.
//! - **At least once** (upstream): every message sent is received by the
//!   server app, once or more; an acked one must have been received.
//! - **At most once** (datagrams, both ways): never received twice at one
//!   place, never received unsent; losing one is fine.

use crate::message::{StreamId, Version};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

/// A client of the simulated service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// Where a stored message came from: a client's upstream message,
/// identified by the client's own stream (its outbox) and version there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The author.
    pub client: ClientId,
    /// The author's upstream stream (its outbox).
    pub stream: StreamId,
    /// The message's version in that stream (the author's local counter).
    pub version: Version,
}

/// What went wrong with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// Expected and never there: a stored message a member client never
    /// committed, or an acknowledged upstream message the store lacks.
    Lost,
    /// There more than once.
    Duplicated,
    /// Committed (or stored) after a later message of the same stream.
    OutOfOrder,
    /// Committed by a client, but the store holds no such message.
    Unknown,
    /// The author was told its message was stored at a place where the
    /// store holds something else (or nothing).
    WrongReceipt,
    /// The sender was told the receiving app committed the message
    /// (`SenderEvent::Acked`), and it never did.
    AckedNotCommitted,
    /// A member has a stored message only from history, and its policy
    /// never passed over it (not before its start, not in a package it gave
    /// up): it should have been delivered live. Upstream: a message its
    /// author was told was skipped (not stored) was never resent.
    Unexplained,
}

/// Which way the message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the server's store to a client app (`stream` and `version` are
    /// the stored message's).
    Down,
    /// From a client to the server's store (`stream` and `version` are the
    /// client's upstream stream and its local version).
    Up,
}

/// One message that broke the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Violation {
    /// What went wrong.
    pub kind: ViolationKind,
    /// Which way.
    pub direction: Direction,
    /// The client concerned (the receiver going down, the author going up).
    pub client: ClientId,
    /// The message's stream.
    pub stream: StreamId,
    /// The message's version.
    pub version: Version,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.kind, self.direction) {
            (ViolationKind::Lost, Direction::Down) => "never committed by",
            (ViolationKind::Lost, Direction::Up) => "acked to its author but not stored:",
            (ViolationKind::Duplicated, Direction::Down) => "committed twice by",
            (ViolationKind::Duplicated, Direction::Up) => "stored twice, sent by",
            (ViolationKind::OutOfOrder, Direction::Down) => "committed out of order by",
            (ViolationKind::OutOfOrder, Direction::Up) => "stored out of order, sent by",
            (ViolationKind::Unknown, _) => "not in the store, committed by",
            (ViolationKind::WrongReceipt, _) => "stored elsewhere than its receipt told",
            (ViolationKind::AckedNotCommitted, Direction::Down) => {
                "acked to the server but never committed by"
            }
            (ViolationKind::AckedNotCommitted, Direction::Up) => {
                "acked to its author but never received, sent by"
            }
            (ViolationKind::Unexplained, Direction::Down) => {
                "only in history, never passed over by the policy of"
            }
            (ViolationKind::Unexplained, Direction::Up) => {
                "reported skipped but never resent, sent by"
            }
        };
        write!(
            f,
            "{:?} stream {} version {}: {} {}",
            self.kind, self.stream.0, self.version.0, what, self.client
        )
    }
}

/// Counts of each kind of violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// [`ViolationKind::Lost`], both directions.
    pub lost: u64,
    /// [`ViolationKind::Duplicated`], both directions.
    pub duplicated: u64,
    /// [`ViolationKind::OutOfOrder`], both directions.
    pub out_of_order: u64,
    /// [`ViolationKind::Unknown`].
    pub unknown: u64,
    /// [`ViolationKind::WrongReceipt`].
    pub wrong_receipts: u64,
    /// [`ViolationKind::AckedNotCommitted`], both directions.
    pub acked_not_committed: u64,
    /// [`ViolationKind::Unexplained`], both directions.
    pub unexplained: u64,
}

impl Tally {
    /// Counts `violations` by kind.
    pub fn of(violations: &[Violation]) -> Tally {
        let mut t = Tally::default();
        for v in violations {
            match v.kind {
                ViolationKind::Lost => t.lost += 1,
                ViolationKind::Duplicated => t.duplicated += 1,
                ViolationKind::OutOfOrder => t.out_of_order += 1,
                ViolationKind::Unknown => t.unknown += 1,
                ViolationKind::WrongReceipt => t.wrong_receipts += 1,
                ViolationKind::AckedNotCommitted => t.acked_not_committed += 1,
                ViolationKind::Unexplained => t.unexplained += 1,
            }
        }
        t
    }

    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        *self == Tally::default()
    }
}

/// Compares what clients committed and saw acknowledged against what the
/// server's store holds. Feed it records in any order across streams, in
/// history order within one, then [`check`](Checker::check).
///
/// ```
/// use ackwire::sim::{Checker, ClientId, Direction, ViolationKind};
/// use ackwire::{StreamId, Version};
///
/// let (alice, chat) = (ClientId(1), StreamId(9));
/// let mut checker = Checker::new();
/// for v in [1, 2, 3] {
///     checker.stored(chat, Version(v), None);
/// }
/// checker.member(alice, chat);
/// for v in [1, 3, 3] {
///     checker.committed(alice, chat, Version(v));
/// }
/// let found = checker.check();
/// assert_eq!(found.len(), 2); // version 2 lost, version 3 twice
/// assert_eq!(found[0].kind, ViolationKind::Lost);
/// assert_eq!(found[0].version, Version(2));
/// assert_eq!(found[1].kind, ViolationKind::Duplicated);
/// assert_eq!(found[1].direction, Direction::Down);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checker {
    store: BTreeMap<StreamId, Vec<(Version, Option<Origin>)>>,
    members: BTreeMap<ClientId, BTreeSet<StreamId>>,
    committed: BTreeMap<(ClientId, StreamId), Vec<Version>>,
    /// Upstream messages that must be stored: sent (at the end of a healed
    /// run) or acknowledged.
    expected_up: BTreeMap<ClientId, BTreeSet<(StreamId, Version)>>,
    /// Where authors were told their messages were stored.
    receipts: BTreeMap<Origin, (StreamId, Version)>,
    /// Stored from history pages, per client and stream (current life).
    history: BTreeMap<(ClientId, StreamId), Vec<Version>>,
    /// Where each client's stream began (`resume_latest`): versions at or
    /// before it are history.
    started: BTreeMap<(ClientId, StreamId), Version>,
    /// Packages each client gave up: versions in `(after, last]`.
    gave_up: BTreeMap<(ClientId, StreamId), Vec<(Version, Version)>>,
    /// The highest version each client was told its stream's store no
    /// longer keeps (`ReceiverEvent::Trimmed`).
    told_trimmed: BTreeMap<(ClientId, StreamId), Version>,
    /// How far retention trimmed each stream in the store at the end.
    trimmed: BTreeMap<StreamId, Version>,
    /// Commits of earlier lives of wiped databases (for `Acked` only).
    former: BTreeSet<(ClientId, StreamId, Version)>,
    /// Downstream acks: the server heard the client committed these.
    acked_down: BTreeSet<(ClientId, StreamId, Version)>,
    /// Downstream skips: the server heard the client did not store these.
    skipped_down: BTreeSet<(ClientId, StreamId, Version)>,
    /// Upstream messages the server reported skipped, each with the
    /// version its author resent it as (if it did).
    skipped_up: BTreeMap<Origin, Option<Version>>,
    /// At-least-once upstream messages: sent, acked, and how often the
    /// server app received each.
    alo_sent: BTreeSet<Origin>,
    alo_acked: BTreeSet<Origin>,
    alo_received: BTreeMap<Origin, u32>,
    /// At-most-once messages sent, and how often each was received where
    /// (`None`: at the server).
    datagrams_sent: BTreeSet<Origin>,
    datagrams_received: BTreeMap<(Option<ClientId>, Origin), u32>,
}

impl Checker {
    /// A checker with no records.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// The store holds `version` of `stream`, next in the stream's order;
    /// `origin` names the upstream message it was stored from, if any.
    pub fn stored(&mut self, stream: StreamId, version: Version, origin: Option<Origin>) {
        self.store
            .entry(stream)
            .or_default()
            .push((version, origin));
    }

    /// `client` must end up with every stored message of `stream`.
    pub fn member(&mut self, client: ClientId, stream: StreamId) {
        self.members.entry(client).or_default().insert(stream);
    }

    /// `client`'s app durably committed `version` of `stream`, next in its
    /// commit order.
    pub fn committed(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.committed
            .entry((client, stream))
            .or_default()
            .push(version);
    }

    /// `client` was told its upstream message `version` of its own
    /// `stream` was stored (it got the ack): the store must hold it once.
    pub fn acked(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.expected_up
            .entry(client)
            .or_default()
            .insert((stream, version));
    }

    /// `client` was told its upstream message `version` of its own `stream`
    /// was stored as `stored_version` of `conversation`: the store must hold
    /// exactly that message there.
    pub fn receipt(
        &mut self,
        client: ClientId,
        stream: StreamId,
        version: Version,
        conversation: StreamId,
        stored_version: Version,
    ) {
        let origin = Origin {
            client,
            stream,
            version,
        };
        self.receipts.insert(origin, (conversation, stored_version));
    }

    /// `client` sent upstream message `version` of its own `stream`, and the
    /// history is complete (every fault healed, everything settled): the
    /// store must hold it once, acknowledged or not.
    pub fn sent(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.acked(client, stream, version);
    }

    /// The server's sender reported `SenderEvent::Acked` for `version` of
    /// `stream` on `client`'s connection: `client`'s app committed it.
    pub fn acked_down(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.acked_down.insert((client, stream, version));
    }

    /// The server's sender reported `SenderEvent::Skipped` for `version` of
    /// `stream` on `client`'s connection: its app did not store it there.
    pub fn skipped(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.skipped_down.insert((client, stream, version));
    }

    /// How many downstream skips were recorded.
    pub fn skipped_count(&self) -> usize {
        self.skipped_down.len()
    }

    /// `client`'s app stored `version` of `stream` from a history page
    /// (`ReceiverEvent::History`), not by a live commit.
    pub fn history(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.history
            .entry((client, stream))
            .or_default()
            .push(version);
    }

    /// `client`'s copy of `stream` began after `after`
    /// (`ReceiverEvent::Started`): older versions are history.
    pub fn started(&mut self, client: ClientId, stream: StreamId, after: Version) {
        self.started.insert((client, stream), after);
    }

    /// `client` gave up a package of `stream` holding the versions in
    /// `(after, last]` (`ReceiverEvent::PackageExpired`).
    pub fn gave_up(&mut self, client: ClientId, stream: StreamId, after: Version, last: Version) {
        self.gave_up
            .entry((client, stream))
            .or_default()
            .push((after, last));
    }

    /// `client` was told `stream`'s store no longer keeps the versions up
    /// to `through` (`ReceiverEvent::Trimmed`).
    pub fn trimmed(&mut self, client: ClientId, stream: StreamId, through: Version) {
        let t = self.told_trimmed.entry((client, stream)).or_default();
        *t = (*t).max(through);
    }

    /// The store's retention trimmed `stream` up to `through`: those
    /// messages are still listed by [`stored`](Self::stored), but a member
    /// may lack them if it was told ([`trimmed`](Self::trimmed)).
    pub fn retention(&mut self, stream: StreamId, through: Version) {
        self.trimmed.insert(stream, through);
    }

    /// `client`'s database was wiped (a reinstall): what it committed so
    /// far still backs the acks it sent, but its database is judged from
    /// the records that follow.
    pub fn wiped(&mut self, client: ClientId) {
        let keys: Vec<(ClientId, StreamId)> = self
            .committed
            .keys()
            .chain(self.history.keys())
            .filter(|k| k.0 == client)
            .copied()
            .collect();
        for k in keys {
            for v in self.committed.remove(&k).unwrap_or_default() {
                self.former.insert((k.0, k.1, v));
            }
            self.history.remove(&k);
            self.started.remove(&k);
            self.gave_up.remove(&k);
            self.told_trimmed.remove(&k);
        }
    }

    /// The server reported `client`'s upstream message `version` of its own
    /// `stream` skipped (not stored); `resent_as` is the version the author
    /// sent it again under, if it did.
    pub fn skipped_up(
        &mut self,
        client: ClientId,
        stream: StreamId,
        version: Version,
        resent_as: Option<Version>,
    ) {
        let o = Origin {
            client,
            stream,
            version,
        };
        self.skipped_up.insert(o, resent_as);
    }

    /// `client` sent `version` of its at-least-once `stream`.
    pub fn at_least_once_sent(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.alo_sent.insert(Origin {
            client,
            stream,
            version,
        });
    }

    /// `client` saw its at-least-once message acknowledged.
    pub fn at_least_once_acked(&mut self, client: ClientId, stream: StreamId, version: Version) {
        self.alo_acked.insert(Origin {
            client,
            stream,
            version,
        });
    }

    /// The server app received (and committed) an at-least-once message.
    pub fn at_least_once_received(&mut self, origin: Origin) {
        *self.alo_received.entry(origin).or_default() += 1;
    }

    /// An at-most-once message was sent.
    pub fn datagram_sent(&mut self, origin: Origin) {
        self.datagrams_sent.insert(origin);
    }

    /// An at-most-once message reached an app: `at` is the client, `None`
    /// for the server.
    pub fn datagram_received(&mut self, at: Option<ClientId>, origin: Origin) {
        *self.datagrams_received.entry((at, origin)).or_default() += 1;
    }

    /// Every violation, sorted (by kind, direction, client, stream, version).
    pub fn check(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        self.check_down(&mut found);
        self.check_acks(&mut found);
        self.check_up(&mut found);
        self.check_qos(&mut found);
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Store to client apps: each member's database holds the stream's
    /// stored versions once each — live commits in order, the rest from
    /// history where the client's policy passed them over.
    fn check_down(&self, found: &mut Vec<Violation>) {
        let mut pairs: BTreeSet<(ClientId, StreamId)> = self.committed.keys().copied().collect();
        pairs.extend(self.history.keys().copied());
        for (&client, streams) in &self.members {
            pairs.extend(streams.iter().map(|&s| (client, s)));
        }
        let (no_entries, no_commits, no_ranges) = (Vec::new(), Vec::new(), Vec::new());
        for (client, stream) in pairs {
            let stored: BTreeSet<Version> = self
                .store
                .get(&stream)
                .unwrap_or(&no_entries)
                .iter()
                .map(|&(v, _)| v)
                .collect();
            let got = self.committed.get(&(client, stream)).unwrap_or(&no_commits);
            let history = self.history.get(&(client, stream)).unwrap_or(&no_commits);
            let start = self.started.get(&(client, stream)).copied();
            let gave_up = self.gave_up.get(&(client, stream)).unwrap_or(&no_ranges);
            let v = |kind, version| Violation {
                kind,
                direction: Direction::Down,
                client,
                stream,
                version,
            };
            let mut seen = BTreeSet::new();
            let mut highest = None;
            for &version in got {
                if !seen.insert(version) {
                    found.push(v(ViolationKind::Duplicated, version));
                } else if highest.is_some_and(|h| version < h) {
                    found.push(v(ViolationKind::OutOfOrder, version));
                }
                if !stored.contains(&version) {
                    found.push(v(ViolationKind::Unknown, version));
                }
                highest = highest.max(Some(version));
            }
            for &version in history {
                if !seen.insert(version) {
                    found.push(v(ViolationKind::Duplicated, version));
                }
                if !stored.contains(&version) {
                    found.push(v(ViolationKind::Unknown, version));
                }
                let passed = start.is_some_and(|s| version <= s)
                    || gave_up.iter().any(|&(a, l)| version > a && version <= l);
                if !passed {
                    found.push(v(ViolationKind::Unexplained, version));
                }
            }
            let member = self
                .members
                .get(&client)
                .is_some_and(|m| m.contains(&stream));
            if member {
                // Not lost only if the store really trimmed it and the
                // client was told so: never a silent gap.
                let cut = self.trimmed.get(&stream).copied().unwrap_or_default();
                let told = self
                    .told_trimmed
                    .get(&(client, stream))
                    .copied()
                    .unwrap_or_default();
                for &version in stored.difference(&seen) {
                    if version > cut.min(told) {
                        found.push(v(ViolationKind::Lost, version));
                    }
                }
            }
        }
    }

    /// `Acked` means committed: every downstream ack names a message the
    /// client's app committed live (in some life of its database).
    fn check_acks(&self, found: &mut Vec<Violation>) {
        for &(client, stream, version) in &self.acked_down {
            let live = self
                .committed
                .get(&(client, stream))
                .is_some_and(|c| c.contains(&version));
            if !live && !self.former.contains(&(client, stream, version)) {
                found.push(Violation {
                    kind: ViolationKind::AckedNotCommitted,
                    direction: Direction::Down,
                    client,
                    stream,
                    version,
                });
            }
        }
    }

    /// At-least-once: every sent message received, every acked one too.
    /// At-most-once: nothing received twice at one place, nothing unsent.
    fn check_qos(&self, found: &mut Vec<Violation>) {
        let v = |kind, o: &Origin| Violation {
            kind,
            direction: Direction::Up,
            client: o.client,
            stream: o.stream,
            version: o.version,
        };
        for o in &self.alo_sent {
            if !self.alo_received.contains_key(o) {
                found.push(v(ViolationKind::Lost, o));
            }
        }
        for o in &self.alo_acked {
            if !self.alo_received.contains_key(o) {
                found.push(v(ViolationKind::AckedNotCommitted, o));
            }
        }
        for (&(at, o), &n) in &self.datagrams_received {
            let mut bad = v(ViolationKind::Duplicated, &o);
            if let Some(c) = at {
                bad.direction = Direction::Down;
                bad.client = c;
            }
            if n > 1 {
                found.push(bad);
            }
            if !self.datagrams_sent.contains(&o) {
                found.push(Violation {
                    kind: ViolationKind::Unknown,
                    ..bad
                });
            }
        }
    }

    /// Clients to the store: every acknowledged (or sent) upstream message is stored,
    /// no upstream message is stored twice, and one author's messages to a
    /// stream are stored in the order the author sent them.
    fn check_up(&self, found: &mut Vec<Violation>) {
        let mut times: BTreeMap<Origin, u32> = BTreeMap::new();
        for entries in self.store.values() {
            // The highest upstream version stored so far per author stream.
            let mut highest: BTreeMap<(ClientId, StreamId), Version> = BTreeMap::new();
            for &(_, origin) in entries {
                let Some(o) = origin else { continue };
                *times.entry(o).or_default() += 1;
                let h = highest.entry((o.client, o.stream)).or_insert(o.version);
                if o.version < *h {
                    found.push(Violation {
                        kind: ViolationKind::OutOfOrder,
                        direction: Direction::Up,
                        client: o.client,
                        stream: o.stream,
                        version: o.version,
                    });
                }
                *h = (*h).max(o.version);
            }
        }
        // A message the server skipped and its author resent is one
        // message under several origins: it must be stored once among them
        // (the original may have landed after all, its resend then being a
        // duplicate of it), and a receipt naming any of them is right.
        let mut resend_of: BTreeMap<Origin, Origin> = BTreeMap::new();
        for (o, resent) in &self.skipped_up {
            if let Some(v) = resent {
                resend_of.insert(Origin { version: *v, ..*o }, *o);
            }
        }
        let root = |mut o: Origin| {
            // Resends have higher versions than what they resend: no cycle.
            while let Some(&prev) = resend_of.get(&o) {
                o = prev;
            }
            o
        };
        let mut by_root: BTreeMap<Origin, u32> = BTreeMap::new();
        for (&o, &n) in &times {
            *by_root.entry(root(o)).or_default() += n;
        }
        for (o, &n) in &by_root {
            if n > 1 {
                found.push(Violation {
                    kind: ViolationKind::Duplicated,
                    direction: Direction::Up,
                    client: o.client,
                    stream: o.stream,
                    version: o.version,
                });
            }
        }
        for (o, &(conversation, version)) in &self.receipts {
            let there = self.store.get(&conversation).and_then(|e| {
                e.iter()
                    .find(|(v, _)| *v == version)
                    .and_then(|(_, origin)| *origin)
            });
            if there.map(root) != Some(root(*o)) {
                found.push(Violation {
                    kind: ViolationKind::WrongReceipt,
                    direction: Direction::Up,
                    client: o.client,
                    stream: o.stream,
                    version: o.version,
                });
            }
        }
        for (o, resent) in &self.skipped_up {
            // Reported skipped: the author must resend it.
            if resent.is_none() {
                found.push(Violation {
                    kind: ViolationKind::Unexplained,
                    direction: Direction::Up,
                    client: o.client,
                    stream: o.stream,
                    version: o.version,
                });
            }
        }
        for (&client, acked) in &self.expected_up {
            for &(stream, version) in acked {
                let origin = Origin {
                    client,
                    stream,
                    version,
                };
                // Reported once per message, at its first origin.
                let first = root(origin);
                if !by_root.contains_key(&first) {
                    found.push(Violation {
                        kind: ViolationKind::Lost,
                        direction: Direction::Up,
                        client,
                        stream: first.stream,
                        version: first.version,
                    });
                }
            }
        }
    }
}
