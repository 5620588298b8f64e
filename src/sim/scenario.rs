//! What a simulation runs: the service's shape, the workload, the faults,
//! and how the run may end.

use super::check::ClientId;
use super::link::LinkConfig;
use crate::config::Config;
use crate::error::InputError;
use crate::message::StreamId;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

/// The first stream id of the clients' upstream streams (outboxes);
/// conversations are numbered from 1 below it.
pub const OUTBOX_BASE: u64 = 1 << 48;

/// The stream of conversation `index` (from 0) in the server's store.
pub fn conversation_stream(index: u32) -> StreamId {
    StreamId(u64::from(index) + 1)
}

/// `client`'s upstream stream: its outbox, versioned by the client's own
/// counter (1, 2, 3, ...).
pub fn outbox_stream(client: ClientId) -> StreamId {
    StreamId(OUTBOX_BASE + u64::from(client.0))
}

/// A simulation's setup. [`Default`] is a small busy service on a bad
/// network; every field can be changed.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Fixes every random choice: the same seed gives the same run.
    pub seed: u64,
    /// Client devices, each with its own link to the server.
    pub clients: u32,
    /// Conversations (group chats), each a stream in the server's store.
    pub conversations: u32,
    /// Members per conversation, chosen at random (every client is in at
    /// least one conversation).
    pub members: u32,
    /// Messages sent by the clients' users, at random times during
    /// `duration`, each by a random member to one of its conversations.
    pub messages: u32,
    /// The period over which messages are sent and faults happen. The run
    /// then heals every fault and goes on until everything is delivered.
    pub duration: Duration,
    /// Every client's link to the server.
    pub link: LinkConfig,
    /// Client crashes at random times: each loses everything not in the
    /// client's database.
    pub client_crashes: u32,
    /// Server crashes at random times: each loses every connection, every
    /// pending push and store write and the version allocator's memory.
    pub server_crashes: u32,
    /// Partitions: a random client's link is down for a while.
    pub partitions: u32,
    /// Longest a crashed process stays down or a partition lasts (each is
    /// uniform between a tenth of this and this).
    pub max_downtime: Duration,
    /// A client whose connection is gone retries after a random delay up
    /// to this.
    pub reconnect_delay: Duration,
    /// Longest a client app takes to write a delivered message to its
    /// database before committing it (writes complete in order).
    pub commit_delay: Duration,
    /// Longest a server store write takes (writes complete in order). The
    /// store appends a message when its write lands; a server crash loses
    /// the writes still on their way.
    pub store_delay: Duration,
    /// Versions one persisted allocator bound covers in the server's store
    /// ([`MemoryStore::with_alloc_step`](crate::store::MemoryStore::with_alloc_step);
    /// small: bounds are written often, and a server crash skips few
    /// versions).
    pub alloc_step: u64,
    /// The server declares each client's outbox stream contiguous
    /// ([`Receiver::set_contiguous`](crate::Receiver::set_contiguous)):
    /// sparse acks, holes fetched at once.
    pub contiguous_outbox: bool,
    /// The protocol's configuration, on every connection.
    pub protocol: Config,
    /// Virtual time without any progress (a message stored, written or
    /// acknowledged) while work remains, after which the run fails with
    /// [`SimError::Stalled`].
    pub stall_timeout: Duration,
    /// Steps after which the run fails with [`SimError::StepLimit`].
    pub max_steps: u64,
    /// Deliberate mistakes in the simulated apps, to see the checker catch
    /// them. All off by default.
    pub app_bugs: AppBugs,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            clients: 30,
            conversations: 12,
            members: 5,
            messages: 5000,
            duration: Duration::from_secs(60),
            link: LinkConfig::default(),
            client_crashes: 6,
            server_crashes: 1,
            partitions: 6,
            max_downtime: Duration::from_secs(3),
            reconnect_delay: Duration::from_millis(500),
            commit_delay: Duration::from_millis(20),
            store_delay: Duration::from_millis(5),
            alloc_step: 16,
            contiguous_outbox: true,
            protocol: Config {
                max_packet_size: 1200,
                // Links here have tens of milliseconds of latency: a lower
                // cap keeps retries (and pings) frequent enough that a
                // 50 % lossy link gets through before the peer-dead timer.
                max_rto: Duration::from_secs(4),
                ..Config::default()
            },
            stall_timeout: Duration::from_secs(600),
            max_steps: 50_000_000,
            app_bugs: AppBugs::default(),
        }
    }
}

/// Mistakes the simulated apps can be told to make. The library is not
/// changed; the checker should report each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppBugs {
    /// Clients never call `resume` on a new connection: every stream
    /// starts over from nothing, and old messages are delivered again.
    pub skip_resume: bool,
    /// Clients save their read position when a message is delivered, not
    /// when it is written, and resume from it: a crash between the two
    /// loses the message.
    pub cursor_before_store: bool,
    /// Clients' database writes complete in any order, not in delivery
    /// order.
    pub unordered_writes: bool,
}

/// Something that happens at a set virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// `client`'s user sends a message to `conversation` (it must be a
    /// member). A client that is down sends it when it is back up.
    Send {
        /// The author.
        client: ClientId,
        /// The conversation's stream.
        conversation: StreamId,
    },
    /// `client`'s process crashes and restarts after `down_for`.
    CrashClient {
        /// The client.
        client: ClientId,
        /// How long it stays down.
        down_for: Duration,
    },
    /// The server's process crashes and restarts after `down_for`.
    CrashServer {
        /// How long it stays down.
        down_for: Duration,
    },
    /// `client`'s link drops every packet for `down_for`.
    Partition {
        /// The client.
        client: ClientId,
        /// How long the link stays down.
        down_for: Duration,
    },
}

/// Why a run did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration or script is inconsistent.
    Config(String),
    /// Work remained but nothing was stored, written or acknowledged for
    /// `SimConfig::stall_timeout` of virtual time.
    Stalled {
        /// Virtual time when the run gave up.
        at: Duration,
        /// What was still outstanding.
        remaining: String,
    },
    /// `SimConfig::max_steps` steps were taken without finishing.
    StepLimit {
        /// Virtual time when the run gave up.
        at: Duration,
    },
    /// An endpoint rejected a packet its peer wrote (a library or driver
    /// bug: the network only loses, duplicates and reorders whole packets),
    /// or a packet of an earlier connection other than as
    /// `InputError::OtherConnection`.
    InputRejected {
        /// Virtual time.
        at: Duration,
        /// The client whose connection it was.
        client: ClientId,
        /// Whether the server was the one that rejected it.
        at_server: bool,
        /// The error.
        error: InputError,
    },
    /// A library call the driver relies on failed unexpectedly.
    Driver(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Config(why) => write!(f, "bad simulation setup: {why}"),
            SimError::Stalled { at, remaining } => write!(
                f,
                "no progress for too long at virtual time {} ms; still outstanding: {remaining}",
                at.as_millis()
            ),
            SimError::StepLimit { at } => write!(
                f,
                "step limit reached at virtual time {} ms without finishing",
                at.as_millis()
            ),
            SimError::InputRejected {
                at,
                client,
                at_server,
                error,
            } => write!(
                f,
                "at {} ms the {} of {client}'s connection rejected a packet: {error}",
                at.as_millis(),
                if *at_server {
                    "server side"
                } else {
                    "client side"
                }
            ),
            SimError::Driver(why) => write!(f, "simulation driver failure: {why}"),
        }
    }
}

impl core::error::Error for SimError {}
