//! The independent checker: compares histories, knows nothing of how they
//! were produced.
//!
//! It takes plain records — what the server's store holds per stream (and
//! where each stored message came from), what each client app durably
//! committed, in commit order, and which of its own upstream messages each
//! client saw acknowledged — and reports every message lost, duplicated,
//! reordered or unknown, by client, stream and version. The simulator feeds
//! it at the end of a run; an app with its own driver can feed it the same
//! records from its own logs.

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

    /// Every violation, sorted (by kind, direction, client, stream, version).
    pub fn check(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        self.check_down(&mut found);
        self.check_up(&mut found);
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Store to client apps: each member's commits are the stream's stored
    /// versions, once each, in order.
    fn check_down(&self, found: &mut Vec<Violation>) {
        let mut pairs: BTreeSet<(ClientId, StreamId)> = self.committed.keys().copied().collect();
        for (&client, streams) in &self.members {
            pairs.extend(streams.iter().map(|&s| (client, s)));
        }
        let (no_entries, no_commits) = (Vec::new(), Vec::new());
        for (client, stream) in pairs {
            let stored: BTreeSet<Version> = self
                .store
                .get(&stream)
                .unwrap_or(&no_entries)
                .iter()
                .map(|&(v, _)| v)
                .collect();
            let got = self.committed.get(&(client, stream)).unwrap_or(&no_commits);
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
            let member = self
                .members
                .get(&client)
                .is_some_and(|m| m.contains(&stream));
            if member {
                for &version in stored.difference(&seen) {
                    found.push(v(ViolationKind::Lost, version));
                }
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
        for (o, &n) in &times {
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
            if there != Some(*o) {
                found.push(Violation {
                    kind: ViolationKind::WrongReceipt,
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
                if !times.contains_key(&origin) {
                    found.push(Violation {
                        kind: ViolationKind::Lost,
                        direction: Direction::Up,
                        client,
                        stream,
                        version,
                    });
                }
            }
        }
    }
}
