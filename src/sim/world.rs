//! The simulated world: one server, many clients, their links, and the
//! virtual clock that drives them all. The server keeps its messages in a
//! [`MemoryStore`](crate::store::MemoryStore) behind the delay and crash
//! model of [`SimStore`]; this module decides when its writes happen.
//!
//! Everything that happens is an event in one time-ordered queue (ties in
//! the order they were scheduled) or a connection's timer; nothing iterates
//! a hash map, so a seed fixes the run.

use super::check::{Checker, ClientId, Origin, Tally, Violation};
use super::report::{Delivery, Latency, Report};
use super::rng::SimRng;
use super::scenario::{
    conversation_stream, marker_stream, outbox_stream, typing_stream, Action, SimConfig, SimError,
    OUTBOX_BASE,
};
use super::store::{SimStore, WriteTicket};
use crate::connection::{Connection, Event};
use crate::error::{InputError, SendError};
use crate::message::{Message, Package, Qos, StreamId, Version};
use crate::packet::ConnectionId;
use crate::receiver::{ReceiverEvent, ReceiverStats};
use crate::sender::{SenderEvent, SenderStats};
use crate::store::{Appended, Page, ReceiptKey};
use crate::sync::{SyncRange, SyncRequest};
use crate::time::Instant;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

/// Where a running simulation stands, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Virtual time.
    pub now: Duration,
    /// The period of sending and faults; after it the run drains.
    pub duration: Duration,
    /// Messages the script will send in all.
    pub messages: u64,
    /// Messages sent so far.
    pub sent: u64,
    /// Messages confirmed to their authors so far.
    pub acked: u64,
    /// Deliveries to member apps so far.
    pub delivered: u64,
}

/// A finished run: the report and what the checker found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The numbers.
    pub report: Report,
    /// Every violation the checker found (empty on a correct run).
    pub violations: Vec<Violation>,
    /// The checker, loaded with the run's histories.
    pub checker: Checker,
    /// Why the run did not settle (empty if it did): it ended because
    /// nothing more could happen, with this still outstanding.
    pub unsettled: String,
}

impl Outcome {
    /// Whether nothing was lost, duplicated or reordered, and every sent
    /// message was confirmed.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.report.is_clean()
    }
}

/// A simulation: an IM server with a store (a
/// [`MemoryStore`](crate::store::MemoryStore), used through the
/// [`Store`](crate::store::Store) trait) and many clients with their own
/// databases, exchanging messages over faulty links on a virtual clock.
///
/// Build it from a [`SimConfig`] (which generates a random workload and
/// fault schedule from its seed), optionally add your own
/// [`Action`]s with [`schedule`](Simulation::schedule), then
/// [`run`](Simulation::run) it.
///
/// ```
/// use ackwire::sim::{Simulation, SimConfig};
///
/// let cfg = SimConfig { clients: 3, conversations: 2, members: 2, messages: 20, ..SimConfig::default() };
/// let outcome = Simulation::new(cfg).unwrap().run().unwrap();
/// assert!(outcome.is_clean(), "{}", outcome.report);
/// assert_eq!(outcome.report.stored, 20);
/// ```
pub struct Simulation {
    cfg: SimConfig,
    members: Vec<Vec<ClientId>>,
    script: Vec<(Duration, Action)>,
    rng: SimRng,
}

impl Simulation {
    /// A simulation of `cfg`: its conversations' members and its random
    /// workload and faults are drawn from `cfg.seed`.
    pub fn new(cfg: SimConfig) -> Result<Simulation, SimError> {
        if cfg.clients == 0 || cfg.conversations == 0 {
            return Err(SimError::Config("needs a client and a conversation".into()));
        }
        if cfg.members == 0 || cfg.members > cfg.clients {
            return Err(SimError::Config(format!(
                "members must be between 1 and the {} clients",
                cfg.clients
            )));
        }
        if cfg.alloc_step == 0 {
            return Err(SimError::Config("alloc_step must be at least 1".into()));
        }
        for p in [cfg.link.loss, cfg.link.duplicate, cfg.link.reorder] {
            if !(0.0..=1.0).contains(&p) {
                return Err(SimError::Config(format!("probability {p} is not in 0..=1")));
            }
        }
        if cfg.link.loss >= 1.0 {
            return Err(SimError::Config("a link that loses everything".into()));
        }
        let mut rng = SimRng::new(cfg.seed);
        let n = cfg.clients as usize;
        // Members: a random subset per conversation, then anyone left out
        // joins a random conversation.
        let mut members: Vec<Vec<ClientId>> = Vec::new();
        let mut all: Vec<u32> = (0..cfg.clients).collect();
        for _ in 0..cfg.conversations {
            for i in 0..cfg.members as usize {
                let j = i + rng.below((n - i) as u64) as usize;
                all.swap(i, j);
            }
            let mut m: Vec<ClientId> = all[..cfg.members as usize]
                .iter()
                .map(|&c| ClientId(c))
                .collect();
            m.sort_unstable();
            members.push(m);
        }
        for c in 0..cfg.clients {
            if !members.iter().any(|m| m.contains(&ClientId(c))) {
                let k = rng.below(u64::from(cfg.conversations)) as usize;
                members[k].push(ClientId(c));
                members[k].sort_unstable();
            }
        }
        let mut sim = Simulation {
            members,
            script: Vec::new(),
            rng,
            cfg,
        };
        sim.generate();
        Ok(sim)
    }

    /// The random workload and faults of the config.
    fn generate(&mut self) {
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        let at = |rng: &mut SimRng| rng.duration_upto(cfg.duration);
        let down = |rng: &mut SimRng| rng.duration_between(cfg.max_downtime / 10, cfg.max_downtime);
        for _ in 0..cfg.messages {
            let t = at(rng);
            let k = rng.below(self.members.len() as u64) as usize;
            let m = &self.members[k];
            let client = m[rng.below(m.len() as u64) as usize];
            let conversation = conversation_stream(k as u32);
            // Draws nothing when packages are off: older seeds keep their runs.
            let action = if rng.chance(cfg.package_share) {
                let size = 2 + rng.below(u64::from(cfg.max_package.max(2) - 1)) as u32;
                Action::SendPackage {
                    client,
                    conversation,
                    size,
                }
            } else {
                Action::Send {
                    client,
                    conversation,
                }
            };
            self.script.push((t, action));
        }
        for _ in 0..cfg.client_crashes {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::CrashClient { client, down_for }));
        }
        for _ in 0..cfg.server_crashes {
            let t = at(rng);
            let down_for = down(rng);
            self.script.push((t, Action::CrashServer { down_for }));
        }
        for _ in 0..cfg.partitions {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::Partition { client, down_for }));
        }
        for _ in 0..cfg.reinstalls {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::Reinstall { client, down_for }));
        }
        for _ in 0..cfg.datagrams {
            let t = at(rng);
            let k = rng.below(self.members.len() as u64) as usize;
            let m = &self.members[k];
            let client = m[rng.below(m.len() as u64) as usize];
            let conversation = conversation_stream(k as u32);
            self.script.push((
                t,
                Action::Typing {
                    client,
                    conversation,
                },
            ));
        }
        for _ in 0..cfg.markers {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            self.script.push((t, Action::Marker { client }));
        }
    }

    /// The members of each conversation, by stream.
    pub fn conversations(&self) -> impl Iterator<Item = (StreamId, &[ClientId])> {
        self.members
            .iter()
            .enumerate()
            .map(|(k, m)| (conversation_stream(k as u32), m.as_slice()))
    }

    /// Replaces the members of `conversation` (for scripted scenarios).
    pub fn set_members(
        &mut self,
        conversation: StreamId,
        members: &[ClientId],
    ) -> Result<(), SimError> {
        let k = self.conversation_index(conversation)?;
        if let Some(c) = members.iter().find(|c| c.0 >= self.cfg.clients) {
            return Err(SimError::Config(format!("no {c}")));
        }
        let mut m = members.to_vec();
        m.sort_unstable();
        m.dedup();
        self.members[k] = m;
        Ok(())
    }

    /// Adds `action` at virtual time `at` (after any action already
    /// scheduled for the same time).
    pub fn schedule(&mut self, at: Duration, action: Action) {
        self.script.push((at, action));
    }

    /// Removes the random workload and faults drawn from the config,
    /// keeping the members: for fully scripted scenarios.
    pub fn clear_script(&mut self) {
        self.script.clear();
    }

    fn conversation_index(&self, s: StreamId) -> Result<usize, SimError> {
        let k = s.0.wrapping_sub(1);
        if k < self.members.len() as u64 {
            Ok(k as usize)
        } else {
            Err(SimError::Config(format!("no conversation {}", s.0)))
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let cfg = &self.cfg;
        let p = &cfg.protocol;
        // A package's members are held, uncommitted, until all are there:
        // it must fit the receiver's bounds and the sender's window.
        let max_package = (p.max_reorder_per_stream as u64)
            .min(p.max_held_messages as u64 / 4)
            .min(p.max_in_flight);
        if cfg.package_share > 0.0 && u64::from(cfg.max_package.max(2)) > max_package {
            return Err(SimError::Config(format!(
                "packages of up to {} members do not fit receivers holding {} per stream, \
                 {} in all, or a window of {}",
                cfg.max_package, p.max_reorder_per_stream, p.max_held_messages, p.max_in_flight
            )));
        }
        if !(0.0..=1.0).contains(&cfg.package_share) || !(0.0..=1.0).contains(&cfg.link.stale) {
            return Err(SimError::Config("a share outside 0..=1".into()));
        }
        if cfg.contiguous_conversations && cfg.server_crashes > 0 {
            return Err(SimError::Config(
                "contiguous conversations need a store that never skips: no server crashes".into(),
            ));
        }
        for (_, a) in &self.script {
            let client = match *a {
                Action::SendPackage {
                    client,
                    conversation,
                    size,
                } => {
                    let k = self.conversation_index(conversation)?;
                    if size == 0 || !self.members[k].contains(&client) {
                        return Err(SimError::Config(format!(
                            "{client}: an empty package, or not a member of {}",
                            conversation.0
                        )));
                    }
                    Some(client)
                }
                Action::Typing { client, .. } | Action::Marker { client } => Some(client),
                Action::Reinstall { client, .. } => Some(client),
                Action::CrashServer { .. } if cfg.contiguous_conversations => {
                    return Err(SimError::Config(
                        "contiguous conversations need a store that never skips".into(),
                    ));
                }
                Action::Send {
                    client,
                    conversation,
                } => {
                    let k = self.conversation_index(conversation)?;
                    if !self.members[k].contains(&client) {
                        return Err(SimError::Config(format!(
                            "{client} is not a member of conversation {}",
                            conversation.0
                        )));
                    }
                    Some(client)
                }
                Action::CrashClient { client, .. } | Action::Partition { client, .. } => {
                    Some(client)
                }
                Action::CrashServer { .. } => None,
            };
            if client.is_some_and(|c| c.0 >= self.cfg.clients) {
                return Err(SimError::Config(format!(
                    "no {}",
                    client.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Runs to the end: every scripted action, then every fault healed and
    /// the service left to settle until every client holds every message of
    /// its conversations (or nothing more can happen). Then the checker
    /// compares the clients' databases and acknowledgements with the
    /// server's store.
    pub fn run(self) -> Result<Outcome, SimError> {
        self.run_with_progress(|_| {})
    }

    /// [`run`](Simulation::run), calling `progress` now and then (it cannot
    /// change the run).
    pub fn run_with_progress(self, progress: impl FnMut(&Progress)) -> Result<Outcome, SimError> {
        self.validate()?;
        let mut world = World::new(self)?;
        world.run(progress)
    }
}

/// A new connection of `config` whose identity is its epoch: both ends use
/// it, and a packet of an earlier connection is rejected by it.
fn new_connection(config: &crate::config::Config, epoch: u64) -> Connection {
    Connection::new(config.clone(), ConnectionId(epoch))
}

/// One side's half of a connection: the client's.
struct ClientConn {
    conn: Connection,
    epoch: u64,
    /// The highest outbox version handed to `conn` (or skipped as acked).
    handed: u64,
    /// The highest marker handed to `conn`.
    markers_handed: u64,
    /// The history page asked for per conversation: its `before`.
    history: BTreeMap<StreamId, Version>,
    /// Escalated messages to send again, refused for backpressure so far.
    resends: VecDeque<Message>,
    /// The members of a package delivered so far: written together with
    /// its last.
    package: Vec<Version>,
}

/// The server's half of a client's connection.
struct ServerConn {
    conn: Connection,
    epoch: u64,
    /// Pushes refused for backpressure, in order.
    backlog: VecDeque<Message>,
    /// Members of an upstream package delivered so far (they come one
    /// after another, all of them).
    assembling: Vec<Message>,
}

/// An outbox entry: a message the user sent.
struct OutboxEntry {
    conversation: StreamId,
    payload: Bytes,
    /// Its place in a package, in outbox versions.
    package: Option<Package>,
}

/// A tombstone: what an outbox entry becomes once the server reported it
/// skipped (its resend carries it on): the chain keeps its place, the
/// server stores nothing for it.
const VOID: StreamId = StreamId(0);

/// What a client keeps across crashes.
#[derive(Default)]
struct ClientDb {
    /// Committed messages per conversation, in the order written.
    streams: BTreeMap<StreamId, Vec<Version>>,
    /// The read position saved at delivery (only with the
    /// `cursor_before_store` bug).
    cursor: BTreeMap<StreamId, Version>,
    /// Every message the user sent: outbox version `i + 1` at index `i`.
    outbox: Vec<OutboxEntry>,
    /// Outbox versions the server confirmed.
    acked: BTreeSet<u64>,
    /// Outbox versions the server reported skipped (not stored), each with
    /// the version it was resent as.
    skipped: BTreeMap<u64, u64>,
    /// Messages stored from history pages, per conversation.
    history: BTreeMap<StreamId, Vec<Version>>,
    /// Where a conversation started (`ReceiverEvent::Started`), if it began
    /// with `resume_latest`.
    started: BTreeMap<StreamId, Version>,
    /// The last version of the latest package given up per conversation:
    /// the stream's position is past it (it comes as history).
    passed_to: BTreeMap<StreamId, Version>,
    /// Every package given up per conversation, `(after, last]`: told to
    /// each new connection, so pushes of them are never taken as stored.
    passed: BTreeMap<StreamId, Vec<(Version, Version)>>,
    /// Versions still to fetch as history, per conversation: ranges
    /// `(after, before)`, the first being fetched.
    missing: BTreeMap<StreamId, VecDeque<(Version, Version)>>,
    /// Read markers sent (versions `1..=markers` of the marker stream).
    markers: u64,
    /// Read markers the server acknowledged.
    markers_acked: BTreeSet<u64>,
    /// The database was wiped by a reinstall: conversations without a
    /// position start from their latest messages.
    fresh: bool,
    /// Where each confirmed message was stored: the conversation it was
    /// sent to and the version its receipt named (M14).
    receipts: BTreeMap<u64, (StreamId, Version)>,
}

impl ClientDb {
    /// The stream's position: the last version committed live, or past a
    /// package given up (fetched as history).
    fn last(&self, stream: StreamId) -> Version {
        let live = self
            .streams
            .get(&stream)
            .and_then(|v| v.last())
            .copied()
            .unwrap_or(Version::ZERO);
        live.max(self.passed_to.get(&stream).copied().unwrap_or_default())
    }

    /// Messages of `stream` held, live and from history.
    fn held(&self, stream: StreamId) -> usize {
        self.streams.get(&stream).map_or(0, Vec::len)
            + self.history.get(&stream).map_or(0, Vec::len)
    }

    /// Outbox entries settled: stored (acked) or skipped and resent.
    fn settled(&self) -> usize {
        self.acked.len()
            + self
                .skipped
                .keys()
                .filter(|v| !self.acked.contains(v))
                .count()
    }

    /// Whether nothing is left to fetch as history.
    fn history_done(&self) -> bool {
        self.missing.values().all(VecDeque::is_empty)
    }

    /// A reinstall: the conversations are gone, the outbox stays.
    fn wipe(&mut self) {
        self.streams.clear();
        self.cursor.clear();
        self.history.clear();
        self.started.clear();
        self.passed_to.clear();
        self.passed.clear();
        self.missing.clear();
        self.fresh = true;
    }
}

struct Client {
    up: bool,
    /// Bumped by every crash: work scheduled by an earlier life is void.
    life: u64,
    db: ClientDb,
    conn: Option<ClientConn>,
    conversations: Vec<StreamId>,
    writes_pending: usize,
    write_tail: Instant,
    /// Messages the user sent while the app was down: sent on restart.
    deferred: VecDeque<Action>,
    /// Typing datagrams sent (their ids).
    typing: u64,
    reconnect_scheduled: bool,
}

/// An upstream message (or a whole package) on its way into the store.
struct Upstream {
    client: usize,
    epoch: u64,
    conversation: StreamId,
    /// Each member's outbox version and payload (one unless a package).
    members: Vec<(Version, Bytes)>,
}

struct Server {
    up: bool,
    /// Durable: the conversations' messages, versions, receipts and outbox
    /// heads, behind the store's fault model.
    store: SimStore,
    conns: Vec<Option<ServerConn>>,
    /// Check bookkeeping, not server state (the server never reads it):
    /// the upstream message each stored conversation message came from,
    /// by conversation and version, recorded when the store took it.
    origins: BTreeMap<StreamId, BTreeMap<Version, Origin>>,
    /// Durable, per client: the outbox packages a server connection gave
    /// up (`PackageExpired`), told to every later connection: its resumed
    /// position is past them, but they were never stored.
    passed: BTreeMap<usize, Vec<(Version, Version)>>,
}

impl Server {
    /// Messages the store holds in `conversation`.
    fn stored(&self, conversation: StreamId) -> usize {
        self.origins.get(&conversation).map_or(0, BTreeMap::len)
    }
}

enum Ev {
    Packet {
        client: usize,
        to_server: bool,
        epoch: u64,
        bytes: Bytes,
    },
    DbWrite {
        client: usize,
        life: u64,
        epoch: u64,
        stream: StreamId,
        /// One message, or a package's members: written together.
        versions: Vec<Version>,
    },
    /// The server app pushes an escalated message again.
    Repush {
        client: usize,
        epoch: u64,
        msg: Message,
    },
    StoreWrite {
        ticket: WriteTicket,
        upstream: Upstream,
    },
    Script(Action),
    ClientRestart(usize),
    ServerRestart,
    Heal(usize),
    Reconnect {
        client: usize,
        life: u64,
    },
}

/// Stats of closed connections, plus the driver's own counters.
#[derive(Default)]
struct Counters {
    down: SenderStats,
    up: SenderStats,
    client_rx: ReceiverStats,
    server_rx: ReceiverStats,
    sent: u64,
    acked: u64,
    stored: u64,
    delivered: u64,
    committed: u64,
    deduped: u64,
    sync_pages: u64,
    sync_messages: u64,
    connections: u64,
    disconnects: u64,
    client_crashes: u64,
    server_crashes: u64,
    partitions: u64,
    packets: u64,
    lost: u64,
    duplicated: u64,
    packages: u64,
    skipped_down: u64,
    skipped_up: u64,
    history_pages: u64,
    history_messages: u64,
    datagrams_sent: u64,
    datagrams_received: u64,
    markers_received: u64,
    stale_rejected: u64,
    escalations_resent: u64,
    reinstalls: u64,
}

fn add_sender(a: &mut SenderStats, b: SenderStats) {
    a.sent += b.sent;
    a.retransmits += b.retransmits;
    a.fast_retransmits += b.fast_retransmits;
    a.escalated += b.escalated;
    a.stall_escalations += b.stall_escalations;
    a.acked += b.acked;
    a.skipped += b.skipped;
    a.packets += b.packets;
    a.datagrams += b.datagrams;
}

fn add_receiver(a: &mut ReceiverStats, b: ReceiverStats) {
    a.delivered += b.delivered;
    a.duplicates += b.duplicates;
    a.dropped_full += b.dropped_full;
    a.chain_conflicts += b.chain_conflicts;
    a.acks_sent += b.acks_sent;
    a.sync_requests += b.sync_requests;
    a.gaps += b.gaps;
    a.packages_expired += b.packages_expired;
}

/// FNV-1a, 64 bits: the trace hash.
struct Trace(u64);

impl Trace {
    fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x100_0000_01B3);
        }
    }
    fn num(&mut self, n: u64) {
        self.mix(&n.to_le_bytes());
    }
}

/// A conversation message's payload: the conversation ([`VOID`] for a
/// tombstone), the author, when the author sent it (for latency), the
/// outbox version it resends (0 if none), and text.
const HEADER: usize = 8 + 4 + 8 + 8;

/// A receipt: the version an upstream message was stored under in its
/// conversation — what the store keeps per receipt key. The author knows
/// the conversation: it is in the outbox entry it sent.
fn encode_receipt(version: Version) -> Bytes {
    Bytes::copy_from_slice(&version.0.to_be_bytes())
}

fn decode_receipt(b: &[u8]) -> Option<Version> {
    Some(Version(u64::from_be_bytes(b.try_into().ok()?)))
}

fn encode_payload(conv: StreamId, author: u32, at: Instant, outbox: u64, original: u64) -> Bytes {
    let mut p = Vec::with_capacity(HEADER + 16);
    p.extend_from_slice(&conv.0.to_be_bytes());
    p.extend_from_slice(&author.to_be_bytes());
    p.extend_from_slice(&at.as_micros().to_be_bytes());
    p.extend_from_slice(&original.to_be_bytes());
    p.extend_from_slice(format!("msg {author}.{outbox}").as_bytes());
    Bytes::from(p)
}

fn decode_payload(p: &[u8]) -> Option<(StreamId, u32, Instant, u64)> {
    let conv = u64::from_be_bytes(p.get(0..8)?.try_into().ok()?);
    let author = u32::from_be_bytes(p.get(8..12)?.try_into().ok()?);
    let at = u64::from_be_bytes(p.get(12..20)?.try_into().ok()?);
    let original = u64::from_be_bytes(p.get(20..28)?.try_into().ok()?);
    Some((StreamId(conv), author, Instant::from_micros(at), original))
}

/// A datagram's payload: its author and id (the checker's identity).
fn encode_datagram(author: u32, id: u64) -> Bytes {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&author.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    Bytes::from(p)
}

fn decode_datagram(p: &[u8]) -> Option<Origin> {
    let author = u32::from_be_bytes(p.get(0..4)?.try_into().ok()?);
    let id = u64::from_be_bytes(p.get(4..12)?.try_into().ok()?);
    let client = ClientId(author);
    Some(Origin {
        client,
        stream: typing_stream(client),
        version: Version(id),
    })
}

struct World {
    cfg: SimConfig,
    rng: SimRng,
    members: Vec<Vec<ClientId>>,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    server: Server,
    clients: Vec<Client>,
    link_down: Vec<u32>,
    in_flight: u64,
    next_epoch: u64,
    script_left: u64,
    script_messages: u64,
    steps: u64,
    last_progress: Instant,
    failure: Option<SimError>,
    counters: Counters,
    trace: Trace,
    deliveries: Vec<Delivery>,
    retransmits_per_second: Vec<u64>,
    retransmits_sampled: u64,
    /// The histories as they happen: commits, history pages, the server's
    /// acks and skips, datagrams and markers (the store and the outboxes
    /// are added at the end).
    checker: Checker,
}

impl World {
    fn new(sim: Simulation) -> Result<World, SimError> {
        let cfg = sim.cfg;
        let n = cfg.clients as usize;
        let mut clients: Vec<Client> = (0..n)
            .map(|_| Client {
                up: true,
                life: 0,
                db: ClientDb::default(),
                conn: None,
                conversations: Vec::new(),
                writes_pending: 0,
                write_tail: Instant::ZERO,
                deferred: VecDeque::new(),
                typing: 0,
                reconnect_scheduled: false,
            })
            .collect();
        for (k, m) in sim.members.iter().enumerate() {
            for c in m {
                clients[c.0 as usize]
                    .conversations
                    .push(conversation_stream(k as u32));
            }
        }
        let mut w = World {
            rng: sim.rng,
            members: sim.members,
            now: Instant::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            server: Server {
                up: true,
                store: SimStore::new(cfg.alloc_step)?,
                conns: (0..n).map(|_| None).collect(),
                origins: BTreeMap::new(),
                passed: BTreeMap::new(),
            },
            clients,
            link_down: alloc::vec![0; n],
            in_flight: 0,
            next_epoch: 0,
            script_left: 0,
            script_messages: 0,
            steps: 0,
            last_progress: Instant::ZERO,
            failure: None,
            counters: Counters::default(),
            trace: Trace(0xCBF2_9CE4_8422_2325),
            deliveries: Vec::new(),
            retransmits_per_second: Vec::new(),
            retransmits_sampled: 0,
            checker: Checker::new(),
            cfg,
        };
        for (t, a) in sim.script {
            w.script_left += 1;
            if matches!(a, Action::Send { .. }) {
                w.script_messages += 1;
            }
            w.at(Instant::ZERO + t, Ev::Script(a));
        }
        for c in 0..n {
            w.schedule_reconnect(c, Duration::ZERO);
        }
        Ok(w)
    }

    fn at(&mut self, t: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((t, self.seq), ev);
    }

    fn fail(&mut self, e: SimError) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - Instant::ZERO
    }

    fn progress_made(&mut self) {
        self.last_progress = self.now;
    }

    fn run(&mut self, mut progress: impl FnMut(&Progress)) -> Result<Outcome, SimError> {
        loop {
            self.steps += 1;
            if self.steps > self.cfg.max_steps {
                return Err(SimError::StepLimit { at: self.elapsed() });
            }
            self.pump();
            if let Some(e) = self.failure.take() {
                return Err(e);
            }
            if self.steps % 1024 == 0 {
                progress(&self.progress());
            }
            if self.script_left == 0 && self.settled() {
                break;
            }
            if self.now - self.last_progress > self.cfg.stall_timeout {
                let remaining = self.remaining();
                if remaining.is_empty() {
                    self.last_progress = self.now;
                } else {
                    return Err(SimError::Stalled {
                        at: self.elapsed(),
                        remaining,
                    });
                }
            }
            // An app that queued work while handling events (a resend of an
            // escalated message) does it on the next pump, now.
            let app_work = self
                .clients
                .iter()
                .any(|c| c.conn.as_ref().is_some_and(|cc| !cc.resends.is_empty()));
            let next = self.next_deadline().or(app_work.then_some(self.now));
            let Some(next) = next else {
                // Nothing can happen any more: let the checker judge.
                break;
            };
            self.now = self.now.max(next);
            self.sample_retransmits(false);
            while let Some(e) = self.queue.first_entry() {
                if e.key().0 > self.now {
                    break;
                }
                let ev = e.remove();
                self.handle(ev);
            }
            self.handle_timeouts();
        }
        progress(&self.progress());
        let unsettled = if self.settled() {
            String::new()
        } else {
            self.remaining()
        };
        Ok(self.finish(unsettled))
    }

    fn progress(&self) -> Progress {
        Progress {
            now: self.elapsed(),
            duration: self.cfg.duration,
            messages: self.script_messages,
            sent: self.counters.sent,
            acked: self.counters.acked,
            delivered: self.counters.delivered,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next = self.queue.keys().next().map(|k| k.0);
        let timers = self
            .clients
            .iter()
            .filter_map(|c| c.conn.as_ref().and_then(|cc| cc.conn.poll_timeout()))
            .chain(
                self.server
                    .conns
                    .iter()
                    .filter_map(|s| s.as_ref().and_then(|sc| sc.conn.poll_timeout())),
            );
        for t in timers {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    fn handle_timeouts(&mut self) {
        let now = self.now;
        for c in &mut self.clients {
            if let Some(cc) = c.conn.as_mut() {
                if cc.conn.poll_timeout().is_some_and(|t| t <= now) {
                    cc.conn.handle_timeout(now);
                }
            }
        }
        for sc in self.server.conns.iter_mut().flatten() {
            if sc.conn.poll_timeout().is_some_and(|t| t <= now) {
                sc.conn.handle_timeout(now);
            }
        }
    }

    /// Retransmits per virtual second, for the timeline.
    fn sample_retransmits(&mut self, last: bool) {
        let second = self.elapsed().as_secs() as usize;
        if !last && second <= self.retransmits_per_second.len() {
            return;
        }
        let total = self.retransmits_total();
        let delta = total - self.retransmits_sampled;
        self.retransmits_sampled = total;
        // The whole delta goes to the last second passed; skipped seconds
        // were quiet (nothing ran in between).
        while self.retransmits_per_second.len() + 1 < second.max(1) {
            self.retransmits_per_second.push(0);
        }
        self.retransmits_per_second.push(delta);
    }

    fn retransmits_total(&self) -> u64 {
        let live: u64 = self
            .clients
            .iter()
            .filter_map(|c| c.conn.as_ref())
            .map(|cc| cc.conn.sender().stats().retransmits)
            .chain(
                self.server
                    .conns
                    .iter()
                    .flatten()
                    .map(|sc| sc.conn.sender().stats().retransmits),
            )
            .sum();
        live + self.counters.down.retransmits + self.counters.up.retransmits
    }

    /// Everything delivered, written and confirmed, with every process up
    /// and connected.
    fn settled(&self) -> bool {
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
                    .all(|k| c.db.held(*k) >= s.stored(*k))
        })
    }

    /// What is still outstanding, for a stall report (empty if nothing).
    fn remaining(&self) -> String {
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
                .map(|k| s.stored(*k).saturating_sub(c.db.held(*k)))
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

    // ---- the events ----

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Packet {
                client,
                to_server,
                epoch,
                bytes,
            } => self.arrive(client, to_server, epoch, bytes),
            Ev::DbWrite {
                client,
                life,
                epoch,
                stream,
                versions,
            } => self.db_write(client, life, epoch, stream, versions),
            Ev::Repush { client, epoch, msg } => {
                if let Some(sc) = self.server.conns[client]
                    .as_mut()
                    .filter(|sc| sc.epoch == epoch)
                {
                    sc.backlog.push_back(msg);
                }
            }
            Ev::StoreWrite { ticket, upstream } => self.store_write(ticket, upstream),
            Ev::Script(a) => {
                self.script_left -= 1;
                self.act(a);
            }
            Ev::ClientRestart(c) => {
                let cl = &mut self.clients[c];
                cl.up = true;
                while let Some(a) = self.clients[c].deferred.pop_front() {
                    self.user(c, a);
                }
                self.schedule_reconnect(c, Duration::ZERO);
            }
            Ev::ServerRestart => self.server.up = true,
            Ev::Heal(c) => self.link_down[c] -= 1,
            Ev::Reconnect { client, life } => self.reconnect(client, life),
        }
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Send { client, .. }
            | Action::SendPackage { client, .. }
            | Action::Marker { client } => {
                let c = client.0 as usize;
                if self.clients[c].up {
                    self.user(c, a);
                } else {
                    self.clients[c].deferred.push_back(a);
                }
            }
            Action::Typing {
                client,
                conversation,
            } => self.typing(client.0 as usize, conversation),
            Action::CrashClient { client, down_for } => self.crash_client(client, down_for, false),
            Action::Reinstall { client, down_for } => self.crash_client(client, down_for, true),
            Action::CrashServer { down_for } => {
                if !self.server.up {
                    return;
                }
                self.counters.server_crashes += 1;
                self.trace.num(0x5E);
                self.server.up = false;
                self.server.store.crash(self.now);
                for c in 0..self.clients.len() {
                    self.disconnect(c);
                }
                self.at(self.now + down_for, Ev::ServerRestart);
            }
            Action::Partition { client, down_for } => {
                let c = client.0 as usize;
                self.counters.partitions += 1;
                self.link_down[c] += 1;
                self.at(self.now + down_for, Ev::Heal(c));
            }
        }
    }

    /// What the user does while the app is up.
    fn user(&mut self, c: usize, a: Action) {
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
    fn typing(&mut self, c: usize, conversation: StreamId) {
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
    fn crash_client(&mut self, client: ClientId, down_for: Duration, reinstall: bool) {
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

    /// The user sends a message (or `size` of them as a package): the app
    /// writes it to its outbox (durable) first; the connection picks it up
    /// from there.
    fn app_send(&mut self, c: usize, conversation: StreamId, size: u32) {
        self.outbox_append(c, conversation, size, None);
        self.counters.sent += u64::from(size);
    }

    /// Appends `size` entries to `c`'s outbox (a package if more than one);
    /// `resending` names the outbox versions they resend, one per entry.
    fn outbox_append(
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

    /// The outbox entry `ov` as a message on `c`'s outbox stream.
    fn outbox_message(db: &ClientDb, c: usize, ov: u64) -> Message {
        let e = &db.outbox[ov as usize - 1];
        let outbox = outbox_stream(ClientId(c as u32));
        let m =
            Message::new(outbox, Version(ov - 1), Version(ov), e.payload.clone()).with_receipt();
        match e.package {
            Some(p) => m.with_package(p),
            None => m,
        }
    }

    fn schedule_reconnect(&mut self, c: usize, min: Duration) {
        let cl = &mut self.clients[c];
        if cl.reconnect_scheduled || !cl.up {
            return;
        }
        cl.reconnect_scheduled = true;
        let life = cl.life;
        let delay = min + self.rng.duration_upto(self.cfg.reconnect_delay);
        self.at(self.now + delay, Ev::Reconnect { client: c, life });
    }

    fn reconnect(&mut self, c: usize, life: u64) {
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
    fn connect(&mut self, c: usize) {
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
    fn disconnect(&mut self, c: usize) {
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

    // ---- the network ----

    fn put_on_link(&mut self, c: usize, to_server: bool, epoch: u64, bytes: Bytes) {
        self.counters.packets += 1;
        self.trace.num(self.now.as_micros());
        self.trace.num(((c as u64) << 1) | u64::from(to_server));
        self.trace.mix(&bytes);
        if self.link_down[c] > 0 {
            self.counters.lost += 1;
            return;
        }
        let copies = self.cfg.link.transmit(&mut self.rng);
        match copies.delays().len() {
            0 => self.counters.lost += 1,
            2 => self.counters.duplicated += 1,
            _ => {}
        }
        for &d in copies.delays() {
            self.in_flight += 1;
            let ev = Ev::Packet {
                client: c,
                to_server,
                epoch,
                bytes: bytes.clone(),
            };
            self.at(self.now + d, ev);
        }
    }

    fn arrive(&mut self, c: usize, to_server: bool, epoch: u64, bytes: Bytes) {
        self.in_flight -= 1;
        if self.link_down[c] > 0 {
            // A partition also cuts what was on the way.
            self.counters.lost += 1;
            return;
        }
        let now = self.now;
        // A packet of an earlier connection still on the link reaches the
        // current one, as on a datagram transport (same addresses).
        let current = if to_server {
            self.server.conns[c]
                .as_mut()
                .filter(|_| self.server.up)
                .map(|sc| (sc.epoch, &mut sc.conn))
        } else {
            self.clients[c]
                .conn
                .as_mut()
                .map(|cc| (cc.epoch, &mut cc.conn))
        };
        let Some((current, conn)) = current else {
            return;
        };
        let result = conn.handle_input(now, bytes);
        if current != epoch {
            // Its connection id makes it a typed rejection (which changes
            // nothing); anything else is a library bug.
            match result {
                Err(InputError::OtherConnection(id)) if id == ConnectionId(epoch) => {
                    self.counters.stale_rejected += 1
                }
                _ => self.fail(SimError::StaleAccepted {
                    at: self.elapsed(),
                    client: ClientId(c as u32),
                    at_server: to_server,
                }),
            }
            return;
        }
        if let Err(error) = result {
            self.fail(SimError::InputRejected {
                at: self.elapsed(),
                client: ClientId(c as u32),
                at_server: to_server,
                error,
            });
        }
    }

    // ---- the apps ----

    fn pump(&mut self) {
        for c in 0..self.clients.len() {
            self.pump_client(c);
            self.pump_server(c);
        }
    }

    fn pump_client(&mut self, c: usize) {
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
            let m = World::outbox_message(&cl.db, c, ov);
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

    fn client_event(&mut self, c: usize, epoch: u64, e: Event) {
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
    fn marker_acked(&mut self, c: usize, version: Version) {
        if self.clients[c].db.markers_acked.insert(version.0) {
            let id = ClientId(c as u32);
            self.checker
                .at_least_once_acked(id, marker_stream(id), version);
            self.progress_made();
        }
    }

    /// The app must fetch the stored versions in `(after, before)` of
    /// `stream` as history: queued durably, asked for when it is first.
    fn want_history(&mut self, c: usize, stream: StreamId, after: Version, before: Version) {
        let cl = &mut self.clients[c];
        let ranges = cl.db.missing.entry(stream).or_default();
        ranges.push_back((after, before));
        if ranges.len() == 1 {
            self.ask_history(c, stream);
        }
    }

    /// Asks for the next history page of `stream`'s first missing range.
    fn ask_history(&mut self, c: usize, stream: StreamId) {
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
    fn history_page(
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

    /// The server did not store outbox message `version` (its receiver
    /// gave it up: a package that stayed incomplete). The app resends it —
    /// the whole package — under new versions, naming the ones it resends,
    /// and voids the old entries, which keep their place in the chain.
    fn outbox_skipped(&mut self, c: usize, version: Version) {
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
    fn outbox_acked(&mut self, c: usize, version: Version, receipt: Option<Bytes>) {
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
    fn answer_outbox(&mut self, c: usize, req: SyncRequest) {
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
        let page: Vec<Message> = (from..to)
            .map(|ov| World::outbox_message(&cl.db, c, ov))
            .collect();
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

    fn client_deliver(&mut self, c: usize, epoch: u64, m: Message) {
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

    fn db_write(
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

    fn pump_server(&mut self, c: usize) {
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

    fn server_event(&mut self, c: usize, epoch: u64, e: Event) {
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
    fn answer_store(&mut self, c: usize, req: SyncRequest) {
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
        match sc.conn.answer_sync(now, &req, &page.messages, page.more) {
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
    fn server_datagram(&mut self, c: usize, m: Message) {
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
    fn server_deliver(&mut self, c: usize, epoch: u64, m: Message) {
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
    fn store_write(&mut self, ticket: WriteTicket, u: Upstream) {
        if self.server.store.land(ticket) {
            self.store_message(u);
        }
    }

    /// Stores an upstream message once (the store keeps its receipt key,
    /// the client and its outbox version, in the same append), pushes it to
    /// the conversation's connected members, and commits it on the
    /// connection it came from, which acks it to the author with the
    /// version it was stored under.
    fn store_message(&mut self, u: Upstream) {
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

    // ---- the end ----

    fn finish(&mut self, unsettled: String) -> Outcome {
        self.sample_retransmits(true);
        for c in 0..self.clients.len() {
            if let Some(cc) = self.clients[c].conn.as_ref() {
                add_sender(&mut self.counters.up, cc.conn.sender().stats());
                add_receiver(&mut self.counters.client_rx, cc.conn.receiver().stats());
            }
            if let Some(sc) = self.server.conns[c].as_ref() {
                add_sender(&mut self.counters.down, sc.conn.sender().stats());
                add_receiver(&mut self.counters.server_rx, sc.conn.receiver().stats());
            }
        }
        // The checker sees the store as it is, each message with the origin
        // recorded when the store took it (none for one it never gave).
        let mut checker = core::mem::take(&mut self.checker);
        let mut versions_skipped = 0;
        let contents = self.server.store.contents();
        for (stream, chain) in &contents {
            let origins = self.server.origins.get(stream);
            for &(version, prev) in chain {
                let origin = origins.and_then(|o| o.get(&version)).copied();
                checker.stored(*stream, version, origin);
                versions_skipped += version.0.saturating_sub(prev.0).saturating_sub(1);
            }
        }
        let mut unconfirmed = 0;
        for (i, cl) in self.clients.iter().enumerate() {
            let id = ClientId(i as u32);
            for &k in &cl.conversations {
                checker.member(id, k);
            }
            let outbox = outbox_stream(id);
            for ov in 1..=cl.db.outbox.len() as u64 {
                checker.sent(id, outbox, Version(ov));
            }
            for (&ov, &resent) in &cl.db.skipped {
                checker.skipped_up(id, outbox, Version(ov), Some(Version(resent)));
            }
            for n in 1..=cl.db.markers {
                checker.at_least_once_sent(id, marker_stream(id), Version(n));
            }
            for &ov in &cl.db.acked {
                checker.acked(id, outbox, Version(ov));
            }
            for (&ov, &(k, v)) in &cl.db.receipts {
                checker.receipt(id, outbox, Version(ov), k, v);
            }
            unconfirmed += (cl.db.outbox.len() - cl.db.settled()) as u64;
            unconfirmed += cl.db.markers - cl.db.markers_acked.len() as u64;
        }
        let violations = checker.check();
        let k = &self.counters;
        let latencies: Vec<Duration> = self.deliveries.iter().map(|d| d.latency).collect();
        let report = Report {
            seed: self.cfg.seed,
            clients: self.cfg.clients,
            conversations: self.members.len() as u32,
            members: self.cfg.members,
            link: self.cfg.link.clone(),
            sent: k.sent,
            acked: k.acked,
            unconfirmed,
            stored: k.stored,
            delivered: k.delivered,
            committed: k.committed,
            pushed: k.down.sent,
            uploaded: k.up.sent,
            retransmits_down: k.down.retransmits,
            retransmits_up: k.up.retransmits,
            fast_retransmits: k.down.fast_retransmits + k.up.fast_retransmits,
            duplicates_dropped: k.client_rx.duplicates + k.server_rx.duplicates,
            duplicates_deduped: k.deduped,
            gaps: k.client_rx.gaps + k.server_rx.gaps,
            sync_requests: k.client_rx.sync_requests + k.server_rx.sync_requests,
            sync_pages: k.sync_pages,
            sync_messages: k.sync_messages,
            escalations: k.down.escalated + k.up.escalated,
            stall_escalations: k.down.stall_escalations + k.up.stall_escalations,
            connections: k.connections,
            disconnects: k.disconnects,
            client_crashes: k.client_crashes,
            server_crashes: k.server_crashes,
            partitions: k.partitions,
            versions_skipped,
            packets: k.packets,
            packets_lost: k.lost,
            packets_duplicated: k.duplicated,
            packages: k.packages,
            packages_expired: k.client_rx.packages_expired + k.server_rx.packages_expired,
            skipped_down: k.skipped_down,
            skipped_up: k.skipped_up,
            history_pages: k.history_pages,
            history_messages: k.history_messages,
            datagrams_sent: k.datagrams_sent,
            datagrams_received: k.datagrams_received,
            markers_received: k.markers_received,
            stale_rejected: k.stale_rejected,
            escalations_resent: k.escalations_resent,
            reinstalls: k.reinstalls,
            virtual_time: self.elapsed(),
            steps: self.steps,
            latency: Latency::of(&latencies),
            deliveries: core::mem::take(&mut self.deliveries),
            retransmits_per_second: core::mem::take(&mut self.retransmits_per_second),
            violations: Tally::of(&violations),
            settled: unsettled.is_empty(),
            trace_hash: self.trace.0,
        };
        debug_assert!(contents.iter().all(|(k, _)| k.0 < OUTBOX_BASE));
        Outcome {
            report,
            violations,
            checker,
            unsettled,
        }
    }
}
