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

/// `client`'s at-least-once upstream stream (read markers: the server app
/// applies them idempotently, so a repeat is harmless), versioned by the
/// client's own counter.
pub fn marker_stream(client: ClientId) -> StreamId {
    StreamId(OUTBOX_BASE + (1 << 32) + u64::from(client.0))
}

/// The at-most-once stream of `client`'s typing indicators (datagrams), on
/// its way up and relayed down to the other members.
pub fn typing_stream(client: ClientId) -> StreamId {
    StreamId(OUTBOX_BASE + (2 << 32) + u64::from(client.0))
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
    /// The share of user sends that are packages (an album, a message with
    /// its attachments): members that must arrive together. The client
    /// sends them up as a package on its outbox, the server stores them as
    /// one ([`MemoryStore::append_package`](crate::store::MemoryStore::append_package):
    /// consecutive versions, atomically) and pushes them as one.
    pub package_share: f64,
    /// The largest package: sizes are uniform in `2..=max_package`. It must
    /// fit the receivers' bounds and the senders' window: at most
    /// `max_reorder_per_stream`, a quarter of `max_held_messages` (a
    /// server's receiver holds several clients' packages at once) and
    /// `max_in_flight` (members are held uncommitted until all are there,
    /// pinning the window): a package that can never be held whole can
    /// never be delivered. Above `sync_page`, a package spans pages.
    pub max_package: u32,
    /// Reinstalls at random times: a client crashes, and comes back with
    /// its conversations wiped (its outbox is kept, as on a phone restoring
    /// from a backup that holds unsent messages). A reinstalled client
    /// starts each conversation with `resume_latest(latest)`, keeps the
    /// `Started` point, and pages back through older messages with
    /// `fetch_history`, storing each page.
    pub reinstalls: u32,
    /// How many of its newest messages a reinstalled client starts a
    /// conversation from.
    pub latest: u32,
    /// Messages per history page a client asks for.
    pub history_page: u32,
    /// The conversation streams are declared contiguous on the client side
    /// ([`Receiver::set_contiguous`](crate::Receiver::set_contiguous)).
    /// Needs a store that never skips a version: no server crashes (a crash
    /// restarts the allocator from its persisted bound, skipping ahead).
    pub contiguous_conversations: bool,
    /// Typing indicators: at-most-once datagrams a random member sends,
    /// which the server relays to the conversation's other connected
    /// members. May be lost; never received twice.
    pub datagrams: u32,
    /// Read markers: at-least-once messages a random client sends up on its
    /// marker stream. Never lost; may be received twice.
    pub markers: u32,
    /// Apps that resend what their sender escalated, on the same
    /// connection, instead of tearing the connection down: the client
    /// sends the outbox message again (same stream and version: stored
    /// once), the server pushes the message again a while later.
    pub resend_escalated: bool,
    /// Retention: the server's store keeps only the newest this many
    /// messages of each conversation (`None`: everything). Reads answer
    /// with where retained history starts
    /// ([`Sender::answer_sync_trimmed`](crate::Sender::answer_sync_trimmed)),
    /// and a client that missed trimmed messages is told
    /// ([`ReceiverEvent::Trimmed`](crate::ReceiverEvent::Trimmed)) and
    /// keeps the range; the checker accepts a stored message a member
    /// never got only when it was trimmed and the member was told.
    pub retain: Option<usize>,
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
            package_share: 0.0,
            max_package: 4,
            reinstalls: 0,
            latest: 5,
            history_page: 4,
            contiguous_conversations: false,
            datagrams: 0,
            markers: 0,
            resend_escalated: false,
            retain: None,
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
    /// `client`'s user sends `size` messages to `conversation` as one
    /// package (consecutive outbox versions).
    SendPackage {
        /// The author.
        client: ClientId,
        /// The conversation's stream.
        conversation: StreamId,
        /// Members, at least 1.
        size: u32,
    },
    /// `client`'s user types in `conversation`: an at-most-once datagram.
    Typing {
        /// The author.
        client: ClientId,
        /// The conversation's stream.
        conversation: StreamId,
    },
    /// `client` sends an at-least-once read marker.
    Marker {
        /// The client.
        client: ClientId,
    },
    /// `client` is reinstalled: it crashes, and after `down_for` comes back
    /// with its conversations wiped.
    Reinstall {
        /// The client.
        client: ClientId,
        /// How long it stays down.
        down_for: Duration,
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
    /// An endpoint took a late packet of an earlier connection as its own
    /// (only with [`LinkConfig::stale`](super::LinkConfig::stale)).
    StaleAccepted {
        /// Virtual time.
        at: Duration,
        /// The client whose connection it was.
        client: ClientId,
        /// Whether the server was the one that took it.
        at_server: bool,
    },
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
            SimError::StaleAccepted {
                at,
                client,
                at_server,
            } => write!(
                f,
                "at {} ms the {} of {client}'s connection took a packet of an earlier connection",
                at.as_millis(),
                if *at_server {
                    "server side"
                } else {
                    "client side"
                }
            ),
        }
    }
}

impl core::error::Error for SimError {}
