//! `packet_decode`: arbitrary bytes into every endpoint's `handle_input`. A
//! rejected packet must change nothing observable, compared with a twin
//! that never saw it.

use super::*;

pub(crate) fn busy_config() -> Config {
    Config {
        max_packet_size: 512 + ID_LEN,
        max_in_flight: 64,
        ..Config::default()
    }
}

pub(crate) fn msg(stream: u64, prev: u64, version: u64, payload: &'static [u8]) -> Message {
    Message::new(
        StreamId(stream),
        Version(prev),
        Version(version),
        Bytes::from_static(payload),
    )
}

/// A sender with messages in flight (plain, with a receipt, at least once,
/// a package, a datagram), some received, some acked, a sync answered and
/// not yet written; and a receiver holding delivered, buffered and
/// uncommitted messages, a receipt, a sync under way on stream 2, a history
/// request on stream 1, a latest start on stream 8 and a contiguous stream 9.
pub fn busy_pair() -> (Sender, Receiver) {
    let cfg = busy_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    rx.set_contiguous(StreamId(9), true);
    rx.resume_latest(StreamId(8), 3);
    for m in [
        msg(1, 0, 1, b"a"),
        msg(1, 1, 2, b"b"),
        msg(1, 3, 4, b"d"), // waits behind missing version 3
        msg(2, 0, 5, b"e"),
        msg(3, 0, 7, b"f").with_receipt(),
        msg(4, 0, 1, b"p").with_package(Package::new(9, 0, 2, Version(2))),
        msg(4, 1, 2, b"q").with_package(Package::new(9, 1, 2, Version(2))),
        msg(5, 0, 3, b"u").with_qos(Qos::AtLeastOnce).with_receipt(),
        msg(6, 0, 1, b"t").with_qos(Qos::AtMostOnce),
        msg(9, 0, 1, b"c"),
    ] {
        tx.send(t0, m).unwrap();
    }
    // The first packet is lost; the rest arrive.
    let mut first = true;
    while let Some(p) = tx.poll_transmit(t0) {
        if !std::mem::take(&mut first) {
            rx.handle_input(t0, p).unwrap();
        }
    }
    while rx.poll_event().is_some() {}
    let t1 = Instant::from_millis(1_020);
    let _ = rx.commit(t1, StreamId(1), Version(1));
    let _ = rx.commit_with_receipt(t1, StreamId(3), Version(7), Bytes::from_static(b"r7"));
    rx.resume(StreamId(2), Version(5));
    rx.fetch_history(StreamId(1), Version(9), 4);
    while let Some(p) = rx.poll_transmit(t1) {
        let _ = tx.handle_input(t1, p);
    }
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::SyncRequested(req) = e {
            if req.stream == StreamId(2) {
                let _ = tx.answer_sync(t1, &req, &[msg(2, 5, 6, b"s")], false);
            }
        }
    }
    tx.send(t1, msg(3, 7, 9, b"g")).unwrap();
    (tx, rx)
}

/// Two connections that exchanged traffic both ways; the first is returned.
pub fn busy_connection() -> Connection {
    let cfg = busy_config();
    let mut a = Connection::new(cfg.clone(), CONN);
    let mut b = Connection::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    a.send(t0, msg(1, 0, 1, b"a1")).unwrap();
    a.send(t0, msg(1, 1, 3, b"a3").with_receipt()).unwrap();
    b.send(t0, msg(9, 0, 2, b"b2")).unwrap();
    b.send(t0, msg(9, 4, 6, b"b6")).unwrap();
    b.send(t0, msg(7, 0, 1, b"b7").with_qos(Qos::AtMostOnce))
        .unwrap();
    for _ in 0..2 {
        while let Some(p) = a.poll_transmit(t0) {
            b.handle_input(t0, p).unwrap();
        }
        while let Some(p) = b.poll_transmit(t0) {
            a.handle_input(t0, p).unwrap();
        }
    }
    while a.poll_event().is_some() {}
    let _ = a.commit(t0, StreamId(9), Version(2));
    a.send(t0, msg(1, 3, 4, b"a4")).unwrap();
    a
}

type RxView = (
    ReceiverStats,
    usize,
    usize,
    Option<Instant>,
    Vec<Option<Version>>,
);

fn rx_view(rx: &Receiver) -> RxView {
    let heads = [0, 1, 2, 3, 4, 5, 7, 8, 9, u64::MAX]
        .map(|s| rx.head(StreamId(s)))
        .to_vec();
    (
        rx.stats(),
        rx.usage().held,
        rx.usage().streams,
        rx.poll_timeout(),
        heads,
    )
}

type TxView = (
    SenderStats,
    usize,
    Option<Instant>,
    Duration,
    Option<Duration>,
    bool,
);

pub(crate) fn tx_view(tx: &Sender) -> TxView {
    (
        tx.stats(),
        tx.pending(),
        tx.poll_timeout(),
        tx.rto(),
        tx.srtt(),
        tx.is_closed(),
    )
}

/// Everything one endpoint shows: its getters, then all it transmits and
/// reports at `now` and after its timers ran at `later`.
trait Observe {
    fn observe(&mut self, now: Instant, later: Instant) -> String;
}

impl Observe for Receiver {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let mut out = format!("{:?}\n", rx_view(self));
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &format!("{:?}\n", rx_view(self));
        }
        out
    }
}

impl Observe for Sender {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let mut out = format!("{:?}\n", tx_view(self));
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &format!("{:?}\n", tx_view(self));
        }
        out
    }
}

impl Observe for Connection {
    fn observe(&mut self, now: Instant, later: Instant) -> String {
        let view = |c: &Connection| {
            format!(
                "{:?} {:?} {:?}\n",
                tx_view(c.sender()),
                rx_view(c.receiver()),
                c.poll_timeout()
            )
        };
        let mut out = view(self);
        for t in [now, later] {
            self.handle_timeout(t);
            while let Some(p) = self.poll_transmit(t) {
                out += &format!("tx {:02x?}\n", &p[..]);
            }
            while let Some(e) = self.poll_event() {
                out += &format!("ev {e:?}\n");
            }
            out += &view(self);
        }
        out
    }
}

/// Whether a frame goes to the receiving half (PROTOCOL.md §5.1 routing).
fn for_receiver(f: &WireFrame) -> bool {
    matches!(
        f,
        WireFrame::Data { .. }
            | WireFrame::Floor { .. }
            | WireFrame::Ping
            | WireFrame::SyncEnd { .. }
            | WireFrame::Datagram { .. }
    )
}

/// Feeds `packet` to `a`; on rejection, `a` must look exactly like `b`.
/// `must_accept`: the packet is valid and the endpoint has no reason of
/// its own to refuse it.
fn twin_check<T: Observe>(
    who: &str,
    mut a: T,
    mut b: T,
    packet: &Bytes,
    must_accept: bool,
    handle: impl Fn(&mut T, Instant, Bytes) -> Result<(), InputError>,
) {
    let now = Instant::from_millis(1_100);
    let result = handle(&mut a, now, packet.clone());
    // Junk the header check rejects must be rejected with the same error.
    if let Err(e) = packet_len(packet, busy_config().max_packet_size) {
        assert_eq!(
            result,
            Err(InputError::Malformed(e)),
            "{who}: packet_len said {e:?}"
        );
    }
    // A whole packet of another connection: that, before any frame.
    if let Some((id, _)) = open_packet(packet, busy_config().max_packet_size) {
        if id != CONN.0 {
            assert_eq!(
                result,
                Err(InputError::OtherConnection(ConnectionId(id))),
                "{who}: a packet of connection {id:#x}"
            );
        }
    }
    if decode_packet(packet, busy_config().max_packet_size).is_none() {
        assert!(
            result.is_err(),
            "{who} accepted a packet PROTOCOL.md rejects"
        );
    } else if must_accept {
        assert_eq!(result, Ok(()), "{who} rejected a valid packet");
    }
    let later = Instant::from_millis(200_000);
    let seen = a.observe(now, later);
    if result.is_err() {
        let twin = b.observe(now, later);
        assert_eq!(
            seen, twin,
            "{who}: rejected packet ({result:?}) changed state"
        );
    }
}

/// Target `packet_decode`. The first byte picks the mode: even = the rest
/// as-is (header, length and CRC must be right by luck or by mutation); odd
/// = the rest as a body, sealed with a valid header and CRC, so the frame
/// decoders are reached — and sealed again as a packet of another
/// connection (the id differs in the bit the mode byte's upper bits name),
/// which every endpoint must reject as that, changing nothing.
pub fn packet_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let packet = if mode % 2 == 0 {
        Bytes::copy_from_slice(rest)
    } else {
        let other = CONN.0 ^ (1 << ((mode >> 1) % 64));
        into_every_endpoint(&seal_for(other, rest));
        seal(rest)
    };
    into_every_endpoint(&packet);
}

/// `packet` into a busy `Receiver`, `Sender` and `Connection`, each beside
/// a twin that never sees it.
fn into_every_endpoint(packet: &Bytes) {
    // A valid packet of receiver frames only: the receiving halves must
    // take it (§5.1 lets them refuse nothing else).
    let rx_only = decode_packet(packet, busy_config().max_packet_size)
        .is_some_and(|fs| fs.iter().all(for_receiver));
    let (tx, rx) = busy_pair();
    let (tx2, rx2) = busy_pair();
    twin_check("Receiver", rx, rx2, packet, rx_only, Receiver::handle_input);
    twin_check("Sender", tx, tx2, packet, false, Sender::handle_input);
    twin_check(
        "Connection",
        busy_connection(),
        busy_connection(),
        packet,
        rx_only,
        Connection::handle_input,
    );
}
