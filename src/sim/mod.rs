//! A deterministic simulator of an IM service built on this crate, and an
//! independent checker of what it delivered (feature `sim`).
//!
//! One server and many clients exchange messages over links with latency,
//! jitter, loss, duplication, reordering and partitions, on a virtual
//! clock, while processes crash and restart:
//!
//! - **The server** keeps a *store* (durable): the crate's own
//!   [`MemoryStore`](crate::store::MemoryStore), used only through the
//!   [`Store`](crate::store::Store) trait, as a server on any store would.
//!   It holds each conversation's messages, assigns their versions (its
//!   allocator's bounds are persisted in it), and keeps each upstream
//!   message's receipt key and each client's outbox head. Around it the
//!   simulator puts a fault model: a write takes a random time up to
//!   `store_delay`, writes complete in the order they began, and a server
//!   crash loses the writes not yet done and restarts the store's volatile
//!   part (the allocator reloads from its persisted bounds: versions skip
//!   ahead, never repeat). Everything else — every
//!   [`Connection`](crate::Connection), pending pushes — dies with the
//!   process.
//! - **Each client** has a *database* (durable): the messages of its
//!   conversations it committed, and its *outbox*, the messages its user
//!   sent, versioned by the client's own counter. A crash loses deliveries
//!   not yet written.
//! - **Upstream**, a client sends each outbox entry on its outbox stream;
//!   the server appends it to the conversation with its receipt key (client
//!   and outbox version), so the store keeps it once and gives it its
//!   version; a resend gets the first version back. The server commits it
//!   with a receipt naming that version (which acks it to the author) and
//!   pushes what the store took new to the conversation's connected members.
//! - **Continuity.** Every (re)connection is a new `Connection` on both
//!   ends. The client resumes each conversation from its database
//!   ([`Receiver::resume`](crate::Receiver::resume)) and hands over its
//!   unconfirmed outbox again; the server resumes the client's outbox from
//!   the store's outbox head, and asks the store for the receipt of a resend
//!   below it. Sync requests are answered with store reads (server) and from
//!   the outbox (client). A connection whose sender escalates a message or
//!   declares its peer dead is torn down; the next one's sync fetches the
//!   message.
//!
//! - **Every mechanism, when the config asks for it.** Packages
//!   (`package_share`): the client sends its members up as a package, the
//!   server stores them atomically with consecutive versions and pushes
//!   them as one; sync pages carry the package fields, so a package larger
//!   than a page or straddling two is fetched whole; a client writes a
//!   package in one transaction. A package a client gives up
//!   (`PackageExpired`, reported `Skipped` to the server) is fetched with
//!   `fetch_history` and stored as history, and the client's position moves
//!   past it. Reinstalls (`reinstalls`): the client's conversations are
//!   wiped; it starts each with `resume_latest`, keeps the `Started` point
//!   (and passes it to `resume_started` on later connections), and pages
//!   back through older messages, storing each page. Contiguous
//!   conversations (`contiguous_conversations`, only without server
//!   crashes, whose allocator restarts skip versions). Typing datagrams
//!   (`Qos::AtMostOnce`, relayed to the other members) and read markers
//!   (`Qos::AtLeastOnce`, resent on every connection until acked). Apps that
//!   resend escalated messages on the same connection
//!   (`resend_escalated`) instead of tearing it down. An upstream message
//!   the server reports `Skipped` (its receiver gave the package up) is
//!   voided in the outbox (a tombstone keeps its place in the chain) and
//!   resent under new versions naming it; the server stores the resend
//!   only if the original is not in the store.
//!
//! After the scripted period, faults heal and the run continues until every
//! client holds every message of its conversations. Then the [`Checker`],
//! which sees only histories (the store, each client's commits and history
//! pages, the acks and skips each side heard), reports every message lost,
//! duplicated or reordered, acknowledged without a commit, or stored from
//! history without a reason.
//! A run that stops making progress fails with [`SimError`] instead of
//! looping. Same [`SimConfig`] and seed, same run: the [`Report`]s are
//! equal, down to a hash of every packet.
//!
//! ```
//! use ackwire::sim::{Action, ClientId, LinkConfig, SimConfig, Simulation, conversation_stream};
//! use std::time::Duration;
//!
//! // A scripted scenario: two clients, one conversation, a crash mid-way.
//! let cfg = SimConfig {
//!     clients: 2, conversations: 1, members: 2, messages: 0,
//!     client_crashes: 0, server_crashes: 0, partitions: 0,
//!     link: LinkConfig { loss: 0.2, ..LinkConfig::default() },
//!     ..SimConfig::default()
//! };
//! let mut sim = Simulation::new(cfg).unwrap();
//! let chat = conversation_stream(0);
//! for i in 0..10 {
//!     let client = ClientId(i % 2);
//!     sim.schedule(Duration::from_millis(100 * u64::from(i)), Action::Send { client, conversation: chat });
//! }
//! sim.schedule(Duration::from_millis(450), Action::CrashServer { down_for: Duration::from_secs(1) });
//! let outcome = sim.run().unwrap();
//! assert!(outcome.is_clean(), "{:?}", outcome.violations);
//! assert_eq!(outcome.report.stored, 10);
//! println!("{}", outcome.report);
//! ```

mod check;
mod link;
mod report;
mod rng;
mod scenario;
mod store;
mod world;

pub use check::{Checker, ClientId, Direction, Origin, Tally, Violation, ViolationKind};
pub use link::{Copies, LinkConfig};
pub use report::{Delivery, Latency, Report};
pub use rng::SimRng;
pub use scenario::{
    conversation_stream, marker_stream, outbox_stream, typing_stream, Action, AppBugs, SimConfig,
    SimError, OUTBOX_BASE,
};
pub use world::{Outcome, Progress, Simulation};
