//! `ackwire` for JavaScript: a client [`Connection`] with the run loop's
//! calls, compiled to WebAssembly with wasm-bindgen.
//!
//! The binding is as sans-IO as the core: JavaScript owns the socket (a
//! WebSocket, one packet per binary message), the clock and the storage
//! (IndexedDB). Conventions:
//!
//! - **time** is milliseconds as a JS number from an origin the caller
//!   picks (`performance.now()`), passed to every call that can change
//!   state; deadlines come back the same way;
//! - **bytes** are `Uint8Array`s, copied in and out;
//! - **stream ids and versions** are `BigInt`s (`u64` in Rust): exact for
//!   every value, including the keep-alive stream `2^64 - 1`;
//! - **errors** are thrown as JS `Error`s whose message is the core's; a
//!   rejected packet changes nothing, as in the core.
//!
//! The run loop, as in the crate docs: after any input (`handleInput` for
//! a packet, `handleTimeout` when `pollTimeout()` has passed, `send`,
//! `commit`, `resume`), drain `pollTransmit(now)` to the socket, then
//! `pollEvent()` until `undefined`, then sleep until `pollTimeout()`.
#![forbid(unsafe_code)]

use ackwire::{
    Config, Connection, ConnectionId, Event, Instant, Message, Qos, ReceiverEvent, SenderEvent,
    StreamId, SyncRange, SyncRequest, Version,
};
use bytes::Bytes;
use core::time::Duration;
use wasm_bindgen::prelude::*;

/// The settings both ends must agree on (`maxPacketSize`, and the sender's
/// window), plus the client's own retry policy. A new `WebConfig` holds the
/// core's defaults; set fields before building a [`WebConnection`].
#[wasm_bindgen]
#[derive(Clone, Copy, Debug)]
pub struct WebConfig {
    /// Largest packet either side writes or accepts, in bytes.
    #[wasm_bindgen(js_name = maxPacketSize)]
    pub max_packet_size: u32,
    /// Retransmissions of one message before it is handed back
    /// (`escalated`).
    #[wasm_bindgen(js_name = maxRetransmits)]
    pub max_retransmits: u32,
    /// Cap of the retransmission timeout, ms.
    #[wasm_bindgen(js_name = maxRtoMs)]
    pub max_rto_ms: f64,
    /// Silence after which the peer is declared dead (`peer_dead`), ms.
    #[wasm_bindgen(js_name = peerDeadAfterMs)]
    pub peer_dead_after_ms: f64,
}

#[wasm_bindgen]
impl WebConfig {
    /// The core's defaults.
    #[wasm_bindgen(constructor)]
    pub fn new() -> WebConfig {
        let c = Config::default();
        WebConfig {
            max_packet_size: c.max_packet_size as u32,
            max_retransmits: c.max_retransmits,
            max_rto_ms: c.max_rto.as_secs_f64() * 1e3,
            peer_dead_after_ms: c.peer_dead_after.as_secs_f64() * 1e3,
        }
    }
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig::new()
    }
}

impl WebConfig {
    fn to_core(self) -> Config {
        Config {
            max_packet_size: self.max_packet_size as usize,
            max_retransmits: self.max_retransmits,
            max_rto: millis(self.max_rto_ms),
            peer_dead_after: millis(self.peer_dead_after_ms),
            ..Config::default()
        }
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_micros(micros(ms))
}

/// Milliseconds as a JS number to whole microseconds (NaN and negative
/// times are 0: `as` saturates).
fn micros(ms: f64) -> u64 {
    (ms * 1e3) as u64
}

fn instant(now_ms: f64) -> Instant {
    Instant::from_micros(micros(now_ms))
}

fn err(e: impl core::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// One event from [`WebConnection::poll_event`]. `kind` says which; the
/// other fields are set where that kind has them (see each getter).
#[wasm_bindgen]
#[derive(Clone, Debug)]
pub struct WebEvent {
    kind: &'static str,
    stream: u64,
    prev: u64,
    version: u64,
    payload: Option<Vec<u8>>,
    receipt: Option<Vec<u8>>,
    request: u32,
    limit: u32,
    unacked: u32,
}

#[wasm_bindgen]
impl WebEvent {
    /// `"deliver"` (a message to store, then `commit`), `"datagram"` (an
    /// at-most-once message: nothing to commit), `"acked"` (a send stored
    /// by the peer; `receipt` if it asked for one), `"skipped"` (a send the
    /// peer passed over: send it again), `"escalated"` (a send out of
    /// retries: `stream`/`prev`/`version`/`payload` to send again),
    /// `"sync_requested"` (the peer asks what follows `version` on
    /// `stream`: answer with `syncPagePush`… `answerSync(request)`),
    /// `"peer_dead"`, `"closed"` (the connection is over: `unacked` sends
    /// were outstanding), or `"other"` (gaps, starts: the core handles
    /// them itself).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.kind.into()
    }

    /// The stream of the message, ack or request.
    #[wasm_bindgen(getter)]
    pub fn stream(&self) -> u64 {
        self.stream
    }

    /// The message's `prev` (deliver, datagram, escalated).
    #[wasm_bindgen(getter)]
    pub fn prev(&self) -> u64 {
        self.prev
    }

    /// The message's version (deliver, datagram, acked, skipped,
    /// escalated); for `sync_requested`, the version the page follows.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The message's payload (deliver, datagram, escalated).
    #[wasm_bindgen(getter)]
    pub fn payload(&self) -> Option<Vec<u8>> {
        self.payload.clone()
    }

    /// The receipt of an `acked` send that asked for one.
    #[wasm_bindgen(getter)]
    pub fn receipt(&self) -> Option<Vec<u8>> {
        self.receipt.clone()
    }

    /// The request to answer (`sync_requested`).
    #[wasm_bindgen(getter)]
    pub fn request(&self) -> u32 {
        self.request
    }

    /// The most messages the page may hold (`sync_requested`).
    #[wasm_bindgen(getter)]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Sends still outstanding (`peer_dead`, `closed`).
    #[wasm_bindgen(getter)]
    pub fn unacked(&self) -> u32 {
        self.unacked
    }
}

impl WebEvent {
    fn new(kind: &'static str) -> WebEvent {
        WebEvent {
            kind,
            stream: 0,
            prev: 0,
            version: 0,
            payload: None,
            receipt: None,
            request: 0,
            limit: 0,
            unacked: 0,
        }
    }

    fn message(kind: &'static str, m: &Message) -> WebEvent {
        WebEvent {
            stream: m.stream.0,
            prev: m.prev.0,
            version: m.version.0,
            payload: Some(m.payload.to_vec()),
            ..WebEvent::new(kind)
        }
    }
}

/// One connection (both directions) of a client, as in
/// `ackwire::Connection`. A new WebSocket gets a new `WebConnection`.
#[wasm_bindgen]
pub struct WebConnection {
    conn: Connection,
    /// Sync requests handed out and not yet answered, by request number.
    requests: Vec<Option<SyncRequest>>,
    /// The page being built by `syncPagePush`.
    page: Vec<Message>,
}

#[wasm_bindgen]
impl WebConnection {
    /// A connection with `config`, whose id is `id` (both ends use the
    /// same; the chat service uses 0, one per WebSocket).
    #[wasm_bindgen(constructor)]
    pub fn new(config: &WebConfig, id: u64) -> WebConnection {
        WebConnection {
            conn: Connection::new(config.to_core(), ConnectionId(id)),
            requests: Vec::new(),
            page: Vec::new(),
        }
    }

    /// Takes one packet from the peer (a binary WebSocket message). Throws
    /// on a packet the core rejects; nothing changed then.
    #[wasm_bindgen(js_name = handleInput)]
    pub fn handle_input(&mut self, now: f64, packet: &[u8]) -> Result<(), JsError> {
        self.conn
            .handle_input(instant(now), Bytes::copy_from_slice(packet))
            .map_err(err)
    }

    /// Runs the timers due at `now` (harmless when called early).
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.conn.handle_timeout(instant(now))
    }

    /// The next packet to send, until `undefined`.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self, now: f64) -> Option<Vec<u8>> {
        self.conn.poll_transmit(instant(now)).map(|b| b.to_vec())
    }

    /// The earliest deadline (ms, same origin as `now`), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.conn.poll_timeout().map(|t| t.as_micros() as f64 / 1e3)
    }

    /// The next event, until `undefined`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Option<WebEvent> {
        let e = self.conn.poll_event()?;
        Some(match e {
            Event::Receiver(ReceiverEvent::Deliver(m)) => WebEvent::message("deliver", &m),
            Event::Receiver(ReceiverEvent::Datagram(m)) => WebEvent::message("datagram", &m),
            Event::Sender(SenderEvent::Acked {
                stream,
                version,
                receipt,
            }) => WebEvent {
                stream: stream.0,
                version: version.0,
                receipt: receipt.map(|r| r.to_vec()),
                ..WebEvent::new("acked")
            },
            Event::Sender(SenderEvent::Skipped { stream, version }) => WebEvent {
                stream: stream.0,
                version: version.0,
                ..WebEvent::new("skipped")
            },
            Event::Sender(SenderEvent::Escalated(m)) => WebEvent::message("escalated", &m),
            Event::Sender(SenderEvent::SyncRequested(req)) => {
                let after = match req.range {
                    SyncRange::After(v) => v.0,
                    // Only "after" pages are answered here; others get an
                    // empty page from the caller's own check of `version`.
                    _ => u64::MAX,
                };
                let request = self.requests.len() as u32;
                let event = WebEvent {
                    stream: req.stream.0,
                    version: after,
                    request,
                    limit: req.limit,
                    ..WebEvent::new("sync_requested")
                };
                self.requests.push(Some(req));
                event
            }
            Event::Sender(SenderEvent::PeerDead { unacked }) => WebEvent {
                unacked: unacked.len() as u32,
                ..WebEvent::new("peer_dead")
            },
            Event::Sender(SenderEvent::Closed { unacked }) => WebEvent {
                unacked: unacked.len() as u32,
                ..WebEvent::new("closed")
            },
            _ => WebEvent::new("other"),
        })
    }

    /// Sends a message on `stream` (`prev -> version`), exactly once;
    /// `withReceipt` asks the peer's app for a receipt (the outbox).
    pub fn send(
        &mut self,
        now: f64,
        stream: u64,
        prev: u64,
        version: u64,
        payload: &[u8],
        with_receipt: bool,
    ) -> Result<(), JsError> {
        let m = message(stream, prev, version, payload, with_receipt);
        self.conn.send(instant(now), m).map_err(err)
    }

    /// Sends an at-most-once datagram on `stream` (a keep-alive, typing):
    /// no ack, no resend.
    #[wasm_bindgen(js_name = sendDatagram)]
    pub fn send_datagram(&mut self, now: f64, stream: u64, payload: &[u8]) -> Result<(), JsError> {
        let m = Message::new(
            StreamId(stream),
            Version::ZERO,
            Version::ZERO,
            Bytes::copy_from_slice(payload),
        )
        .with_qos(Qos::AtMostOnce);
        self.conn.send(instant(now), m).map_err(err)
    }

    /// Tells the core that a delivered message is durably stored: only
    /// then is it acknowledged. Call it after the storage transaction
    /// completed, never before.
    pub fn commit(&mut self, now: f64, stream: u64, version: u64) -> Result<(), JsError> {
        self.conn
            .commit(instant(now), StreamId(stream), Version(version))
            .map_err(err)
    }

    /// Sets a stream's position from storage on a new connection: nothing
    /// at or below `lastCommitted` is delivered again, and the peer is asked
    /// for what follows it.
    pub fn resume(&mut self, stream: u64, last_committed: u64) {
        self.conn.resume(StreamId(stream), Version(last_committed))
    }

    /// Adds one message to the page for the next `answerSync`.
    #[wasm_bindgen(js_name = syncPagePush)]
    pub fn sync_page_push(
        &mut self,
        stream: u64,
        prev: u64,
        version: u64,
        payload: &[u8],
        with_receipt: bool,
    ) {
        self.page
            .push(message(stream, prev, version, payload, with_receipt));
    }

    /// Answers sync request `request` with the page pushed since the last
    /// answer; `more` says whether messages follow it. Throws on an
    /// unknown or already answered request.
    #[wasm_bindgen(js_name = answerSync)]
    pub fn answer_sync(&mut self, now: f64, request: u32, more: bool) -> Result<(), JsError> {
        let page = core::mem::take(&mut self.page);
        let req = self
            .requests
            .get_mut(request as usize)
            .and_then(Option::take)
            .ok_or_else(|| JsError::new("no such sync request"))?;
        // Once every request handed out is answered, forget them all.
        if self.requests.iter().all(Option::is_none) {
            self.requests.clear();
        }
        self.conn
            .answer_sync(instant(now), &req, &page, more)
            .map_err(err)
    }

    /// Closes the sending half: outstanding sends come back as `closed`.
    pub fn close(&mut self) {
        self.conn.close()
    }
}

fn message(stream: u64, prev: u64, version: u64, payload: &[u8], with_receipt: bool) -> Message {
    let m = Message::new(
        StreamId(stream),
        Version(prev),
        Version(version),
        Bytes::copy_from_slice(payload),
    );
    if with_receipt {
        m.with_receipt()
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two bindings talk through byte copies, as JS would: a send is
    /// delivered, committed, and acked with its receipt only after commit.
    #[test]
    fn a_send_round_trips_through_the_binding() {
        let cfg = WebConfig::new();
        let mut a = WebConnection::new(&cfg, 0);
        let mut b = WebConnection::new(&cfg, 0);
        a.send(0.0, 1, 0, 1, b"hi", false).unwrap();
        while let Some(p) = a.poll_transmit(0.0) {
            b.handle_input(0.0, &p).unwrap();
        }
        let e = b.poll_event().unwrap();
        assert_eq!(
            (e.kind(), e.version(), e.payload()),
            ("deliver".into(), 1, Some(b"hi".to_vec()))
        );
        assert!(b.poll_event().is_none());
        b.commit(1.0, 1, 1).unwrap();
        let t = b.poll_timeout().unwrap();
        b.handle_timeout(t);
        while let Some(p) = b.poll_transmit(t) {
            a.handle_input(t, &p).unwrap();
        }
        let e = a.poll_event().unwrap();
        assert_eq!((e.kind(), e.stream(), e.version()), ("acked".into(), 1, 1));
    }

    #[test]
    fn times_are_milliseconds() {
        assert_eq!(instant(1.5), Instant::from_micros(1500));
        assert_eq!(instant(-3.0), Instant::from_micros(0));
        assert_eq!(instant(f64::NAN), Instant::from_micros(0));
    }
}
