//! # ackwire
//!
//! Reliable instant-messaging delivery as sans-IO state machines: no message
//! lost, none shown twice, every stream in order — across loss, duplication,
//! reordering, retransmits and reconnects.
//!
//! ## What it guarantees
//! - **Business-level acks.** A message is acknowledged to the sender
//!   ([`SenderEvent::Acked`]) only after the receiving app called
//!   [`Receiver::commit`] for it, i.e. after it is durably stored — on
//!   every path. What the receiver settles by its own policy without the
//!   app storing it (a package given up, messages before a
//!   [`resume_latest`](Receiver::resume_latest) start, history pages, a
//!   forked chain) reaches the sender as [`SenderEvent::Skipped`], never as
//!   `Acked`: a server keeps its copy of those.
//! - **Received is not committed.** Once the peer *holds* a message the
//!   sender stops retransmitting it, so a message waiting behind a gap or a
//!   slow commit never burns its retry budget.
//! - **Bounded retries.** Retransmission follows an RTT-based timeout
//!   (RFC 6298, Karn's rule, exponential backoff with a cap); after
//!   `Config::max_retransmits` the message is handed back as
//!   [`SenderEvent::Escalated`] for offline storage. A silent peer ends the
//!   connection with [`SenderEvent::PeerDead`], handing back every
//!   unconfirmed message marked as possibly delivered or not.
//! - **Fast retransmit.** Acks report SID ranges; a message the peer skipped
//!   is resent at once, and so is what a peer's sync request says it lacks.
//! - **Flow control.** Each ack says how many more messages the receiver
//!   can hold; the sender keeps no more than that on the wire, so a
//!   receiver with small bounds is never sent what it must drop.
//! - **Connection identity.** Every packet carries its connection's
//!   [`ConnectionId`]: a late packet of an earlier connection (over a
//!   datagram transport) is rejected, never taken for the current one's.
//! - **Exactly once, in order, per stream.** A SID window drops link
//!   duplicates; the version chain (`prev -> version`) orders each stream and
//!   holds early messages in a bounded buffer; a version at or below the
//!   stream's head never reaches the app again.
//! - **Bounded memory.** Every buffer and window has a bound in [`Config`].
//!   Malformed input, and a packet of another connection, is a typed error
//!   and changes nothing.
//!
//! ## Continuity across reconnects and crashes
//! A connection is one [`Sender`]/[`Receiver`] pair: SIDs start at 0 on each,
//! so a new connection (after a drop, a server restart or a client crash)
//! always gets a new pair, with a new [`ConnectionId`] that both ends share.
//! Every packet carries it, and a packet of any other connection (a stale
//! one, delayed on a datagram transport) is rejected with
//! [`InputError::OtherConnection`] and changes nothing. What carries over is the app's store: a message
//! delivered on the old connection and stored after it dropped needs no
//! commit (there is nobody to ack); the next connection's `resume` starts
//! after it, and a resend of it is a duplicate.
//! - **Gaps.** A message whose `prev` is not the stream's head waits
//!   `Config::gap_wait` in the reorder buffer (it may just be late); then
//!   [`ReceiverEvent::Gap`] is reported and the receiver syncs.
//! - **Sync.** The receiver asks for a page of stored messages
//!   ([`SyncRequest`]); the sending app gets [`SenderEvent::SyncRequested`]
//!   and answers with [`Sender::answer_sync`]. Requests are retried, pages
//!   are followed until nothing more follows, and repeated answers never
//!   deliver twice.
//! - **Resume.** After a restart, [`Receiver::resume`] sets each stream's
//!   position from the app's store and checks with the peer that nothing
//!   after it was missed. A stream with nothing local starts from its newest
//!   messages with [`Receiver::resume_latest`] ([`ReceiverEvent::Started`]
//!   says where; keep it and pass it to [`Receiver::resume_started`] on
//!   later connections); [`Receiver::fetch_history`] pages back through
//!   older ones ([`ReceiverEvent::History`]) without touching live
//!   delivery. History is shown, never committed: its sender hears
//!   `Skipped`.
//! - **Contiguous streams.** [`Receiver::set_contiguous`] declares
//!   `version == prev + 1` for a stream (a per-user queue with a counter):
//!   any message that skips is rejected, a hole is proven by arithmetic and
//!   fetched at once, and acks are sparse (`Config::sparse_ack_every`,
//!   `Config::sparse_ack_delay`). The trade-off: fewer ack packets; more
//!   refetches, since a merely reordered message also triggers a sync.
//! - **Packages.** Members of a [`Package`] (a message and its signal; a
//!   batch of offline messages) reach the app only together, complete and
//!   in order, however many sync pages they span. An incomplete package is
//!   fetched again after `Config::package_timeout`,
//!   `Config::package_retries` times, then given up with
//!   [`ReceiverEvent::PackageExpired`] (the stream moves past it; its
//!   members reach their sender as `Skipped`). Keep its `(after, last]`
//!   and hand it to [`Receiver::pass_over`] on later connections: a
//!   position resumed past it does not say those versions were stored.
//! - **Bounds.** Buffered messages per stream (`max_reorder_per_stream`),
//!   messages held in all (`max_held_messages`), streams (`max_streams`),
//!   open packages (one per stream, its members counted as buffered), sync
//!   requests unread by the app (`max_streams`), history pages (one per
//!   stream, at most `max_reorder_per_stream` messages). Beyond a bound the
//!   newest message is dropped unacknowledged and comes again by
//!   retransmission or sync.
//!
//! ## Sending from clients: receipts, dedup, QoS
//! - **Idempotent send (M1, M14).** A client sends up its own outbox stream,
//!   versions from its local counter, each message
//!   [`with_receipt`](Message::with_receipt). The server stores it, assigns
//!   its conversation version, and commits with
//!   [`Receiver::commit_with_receipt`]; the client's
//!   [`SenderEvent::Acked`] carries that receipt. A resend (lost ack,
//!   timeout, reconnect) is a duplicate by version: it is never delivered
//!   again and is answered with the same receipt — from the receiver's
//!   memory for the last `Config::max_receipts` commits, and beyond that
//!   (or on a new connection) from the app's store via
//!   [`ReceiverEvent::ReceiptWanted`] and [`Receiver::provide_receipt`].
//!   A send either ends `Acked` with its receipt or, when retries run out,
//!   `Escalated`: "failed, tap to retry" — resending the same message keeps
//!   its identity, so the server still stores it once.
//! - **Keyed dedup cache (M1).** For senders without an outbox stream (HTTP
//!   APIs, bots), [`DedupCache`] remembers caller-given ids or content
//!   hashes, under a secret-keyed SipHash, for a TTL, within a capacity.
//! - **Ordering basis (M9).** [`VersionAllocator`] hands out per-stream
//!   versions from memory and asks the caller to persist a bound every
//!   `step` (never repeats after a crash); [`IdGenerator`] makes
//!   snowflake-style ids that neither repeat nor block when the clock steps
//!   back.
//! - **QoS (M12, M13).** [`Qos::ExactlyOnce`] (the default) never loses and
//!   never repeats; [`Qos::AtLeastOnce`] never loses but a resend after a
//!   reconnect may reach the app again (no chain state); [`Qos::AtMostOnce`]
//!   may lose and never repeats (no ack, no resend: typing, presence).
//!
//! ### The client-send recipe, complete
//! Both ends need a few lines of app code on **every new connection**;
//! without them a send can be stored twice or wait for ever:
//! - **The server** resumes the client's outbox stream from the highest
//!   outbox version its store holds for that client
//!   ([`Connection::resume`]`(outbox, stored_head)`): resends at or below
//!   it are duplicates, answered with receipts from
//!   [`ReceiverEvent::ReceiptWanted`] → [`Connection::provide_receipt`].
//!   It stores each delivered send once (keyed by client and outbox
//!   version) and commits it with the assigned version as receipt.
//! - **The client** resumes its conversations from its database, hands
//!   over every unconfirmed outbox entry again (same stream, same
//!   version), and answers [`SenderEvent::SyncRequested`] *for its own
//!   outbox* from it: the server's resume asks what follows its stored
//!   head. `Acked { receipt }` is "stored"; `Escalated` or a closed
//!   connection leave the entry in the outbox for the next connection;
//!   `Skipped` (the server passed over it) is "not stored": send it again.
//!
//! ```
//! use ackwire::*;
//! use bytes::Bytes;
//! use std::collections::BTreeMap;
//!
//! const OUTBOX: StreamId = StreamId(1 << 48);
//!
//! /// The server's store: the chat, and which outbox version became which
//! /// chat version (the receipt key: client and outbox version).
//! #[derive(Default)]
//! struct Store { chat: Vec<Bytes>, stored: BTreeMap<u64, u64> }
//! impl Store {
//!     fn outbox_head(&self) -> Version {
//!         // Outbox versions are stored in order: the highest is the head.
//!         Version(self.stored.keys().next_back().copied().unwrap_or(0))
//!     }
//! }
//!
//! /// One connection's worth of the recipe, both ends, on a lossless link.
//! /// Each connection gets a fresh id, both ends the same (the client picks
//! /// it and names it in its hello, say).
//! fn connect(id: u64, store: &mut Store, outbox: &[Bytes], confirmed: &mut BTreeMap<u64, u64>) {
//!     let now = Instant::from_millis(0);
//!     let mut server = Connection::new(Config::default(), ConnectionId(id));
//!     let mut client = Connection::new(Config::default(), ConnectionId(id));
//!     // Server: resume the client's outbox from the store.
//!     server.resume(OUTBOX, store.outbox_head());
//!     // Client: hand over every unconfirmed outbox entry, same identity.
//!     for (i, text) in outbox.iter().enumerate() {
//!         let v = i as u64 + 1;
//!         if !confirmed.contains_key(&v) {
//!             let m = Message::new(OUTBOX, Version(v - 1), Version(v), text.clone());
//!             client.send(now, m.with_receipt()).unwrap();
//!         }
//!     }
//!     for _ in 0..20 {
//!         while let Some(p) = client.poll_transmit(now) { server.handle_input(now, p).unwrap(); }
//!         while let Some(e) = server.poll_event() {
//!             match e {
//!                 Event::Receiver(ReceiverEvent::Deliver(m)) => {
//!                     // Store once per (client, outbox version); commit with the receipt.
//!                     let chat_version = *store.stored.entry(m.version.0).or_insert_with(|| {
//!                         store.chat.push(m.payload.clone());
//!                         store.chat.len() as u64
//!                     });
//!                     let receipt = Bytes::copy_from_slice(&chat_version.to_be_bytes());
//!                     server.commit_with_receipt(now, m.stream, m.version, receipt).unwrap();
//!                 }
//!                 Event::Receiver(ReceiverEvent::ReceiptWanted { stream, version }) => {
//!                     if let Some(v) = store.stored.get(&version.0) {
//!                         let receipt = Bytes::copy_from_slice(&v.to_be_bytes());
//!                         server.provide_receipt(stream, version, receipt).unwrap();
//!                     }
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         server.handle_timeout(server.poll_timeout().unwrap_or(now).max(now));
//!         while let Some(p) = server.poll_transmit(now) { client.handle_input(now, p).unwrap(); }
//!         while let Some(e) = client.poll_event() {
//!             match e {
//!                 Event::Sender(SenderEvent::Acked { version, receipt: Some(r), .. }) => {
//!                     let stored = u64::from_be_bytes(r[..].try_into().unwrap());
//!                     confirmed.insert(version.0, stored);
//!                 }
//!                 // The server's resume asks what follows its stored head.
//!                 Event::Sender(SenderEvent::SyncRequested(req)) => {
//!                     let SyncRange::After(after) = req.range else { continue };
//!                     let page: Vec<Message> = outbox
//!                         .iter()
//!                         .enumerate()
//!                         .map(|(i, t)| (i as u64 + 1, t))
//!                         .filter(|(v, _)| *v > after.0)
//!                         .take(req.limit as usize)
//!                         .map(|(v, t)| {
//!                             Message::new(OUTBOX, Version(v - 1), Version(v), t.clone()).with_receipt()
//!                         })
//!                         .collect();
//!                     let more = after.0 + (page.len() as u64) < outbox.len() as u64;
//!                     client.answer_sync(now, &req, &page, more).unwrap();
//!                 }
//!                 _ => {}
//!             }
//!         }
//!     }
//! }
//!
//! let outbox: Vec<Bytes> = ["hi", "there", "again"].into_iter().map(Bytes::from).collect();
//! let mut store = Store::default();
//! let mut confirmed = BTreeMap::new();
//! connect(1, &mut store, &outbox[..2], &mut confirmed); // sends 1 and 2
//! confirmed.remove(&2); // the ack for 2 was lost: the client resends it
//! connect(2, &mut store, &outbox, &mut confirmed); // and sends 3
//! assert_eq!(store.chat, outbox, "each send stored once");
//! assert_eq!(confirmed, BTreeMap::from([(1, 1), (2, 2), (3, 3)]), "receipts name the stored versions");
//! ```
//!
//! ## Restarts and hostile peers
//! - **Snapshots.** [`Sender::snapshot`] / [`Receiver::snapshot`] write the
//!   whole state as versioned, checksummed bytes; `restore` continues exactly
//!   where the snapshot was taken (a property test compares every packet and
//!   event with an uninterrupted run). Restoring decodes defensively and
//!   checks every invariant and bound first ([`SnapshotError`]).
//! - **Bounds.** [`Receiver::usage`] and [`Sender::usage`] report every
//!   structure a peer can grow; each has a bound in [`Config`] (the table is
//!   in `PROTOCOL.md` §9, the hostile-input catalogue in §8).
//!
//! ## Sans-IO
//! The core never reads a clock, touches a socket or spawns: every entry
//! point takes `now` ([`Instant`]) and bytes from the caller, and hands back
//! packets to send, events, and the next deadline. It builds with
//! `#![no_std]` + `alloc`.
//!
//! ## The run loop
//! For each endpoint, after any input (a packet, a timer, an app command):
//! 1. `handle_input(now, packet)` for each packet read, `handle_timeout(now)`
//!    when the deadline from `poll_timeout` passes;
//! 2. `poll_transmit(now)` until `None`, writing each packet to the wire;
//! 3. `poll_event()` until `None`;
//! 4. sleep until `poll_timeout()` or the next packet.
//!
//! A [`Connection`] carries both directions of one link (a server pushing
//! and a client sending, say); [`Sender`] and [`Receiver`] are its halves
//! and can be used alone for one-way delivery.
//!
//! ```
//! use ackwire::*;
//! use bytes::Bytes;
//!
//! // Both ends of one connection use its id; a new connection gets a new one.
//! let id = ConnectionId(0x5eed_0001);
//! let mut server = Sender::new(Config::default(), id);
//! let mut client = Receiver::new(Config::default(), id);
//! let now = Instant::from_millis(0);
//! let stream = StreamId(1);
//! server.send(now, Message::new(stream, Version(0), Version(10), Bytes::from("hi"))).unwrap();
//!
//! // The link: bytes from one side's poll_transmit go to the other's handle_input.
//! while let Some(packet) = server.poll_transmit(now) {
//!     client.handle_input(now, packet).unwrap();
//! }
//! // The client app stores each delivered message, then commits it.
//! // (Drain every event: others — a gap, a start — come in between.)
//! while let Some(event) = client.poll_event() {
//!     if let ReceiverEvent::Deliver(msg) = event {
//!         assert_eq!(msg.payload, "hi");
//!         client.commit(now, msg.stream, msg.version).unwrap();
//!     }
//! }
//! // The ack is coalesced for `Config::ack_delay`; the timer says when.
//! let later = client.poll_timeout().unwrap();
//! client.handle_timeout(later);
//! while let Some(ack) = client.poll_transmit(later) {
//!     server.handle_input(later, ack).unwrap();
//! }
//! assert!(matches!(
//!     server.poll_event(),
//!     Some(SenderEvent::Acked { version: Version(10), .. })
//! ));
//! ```
//!
//! The wire format is specified in `PROTOCOL.md`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod allocator;
mod config;
mod connection;
mod dedup_cache;
mod error;
mod frame;
mod idgen;
mod message;
mod package_slots;
mod packet;
mod receiver;
mod rtt;
mod sender;
mod sid_ranges;
mod sid_set;
mod snapshot;
#[cfg(feature = "store")]
pub mod store;
mod sync;
mod time;
mod varint;

#[cfg(feature = "sim")]
pub mod sim;

pub use allocator::{
    AllocError, AllocatorConfigError, AllocatorStats, ConfirmError, LoadError, PersistBound,
    VersionAllocator,
};
pub use config::{Config, ConfigError, MIN_PACKET_SIZE};
pub use connection::{Connection, Event};
pub use dedup_cache::{DedupCache, DedupStats, Seen};
pub use error::{CodecError, CommitError, InputError, SendError};
pub use idgen::{IdConfigError, IdError, IdGenerator, IdLayout, IdParts};
pub use message::{Message, Package, Qos, StreamId, Version};
pub use packet::{
    packet_len, ConnectionId, FORMAT_VERSION, HEADER_LEN, MAGIC, OVERHEAD, TRAILER_LEN,
};
pub use receiver::{Receiver, ReceiverEvent, ReceiverStats, ReceiverUsage};
pub use sender::{Sender, SenderEvent, SenderStats, SenderUsage, Unacked, UnackedState};
pub use snapshot::SnapshotError;
pub use sync::{SyncRange, SyncRequest};
pub use time::Instant;
