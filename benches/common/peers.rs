//! The peers of the side-by-side loop, driven the way `benches/full_loop.rs`
//! drives ackwire: KCP (the `kcp` crate) and rumqttc's MQTT QoS 1 state
//! machine. Shared by that bench and `examples/profile_loop.rs` (which
//! runs one loop alone, for instruction counts under callgrind).

/// Messages per round, for every peer.
pub const BATCH: u64 = 1024;

/// KCP's side of the same loop: its output callback queues datagrams in
/// reused buffers; "acked" means KCP's send buffer drained.
pub mod kcp_side {
    use super::BATCH;
    use crate::common::{Loss, PAYLOAD};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io::{self, Write};
    use std::rc::Rc;

    /// Datagrams in flight, and spent buffers to reuse.
    #[derive(Default)]
    pub struct Queue(VecDeque<Vec<u8>>, Vec<Vec<u8>>);

    #[derive(Clone, Default)]
    pub struct Wire {
        queue: Rc<RefCell<Queue>>,
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut q = self.queue.borrow_mut();
            let mut v = q.1.pop().unwrap_or_default();
            v.clear();
            v.extend_from_slice(buf);
            q.0.push_back(v);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub struct Pair {
        a: kcp::Kcp<Wire>,
        b: kcp::Kcp<Wire>,
        a_out: Wire,
        b_out: Wire,
        now: u32,
        loss: Loss,
        payload: [u8; 64],
        buf: Vec<u8>,
    }

    fn tuned(out: Wire) -> kcp::Kcp<Wire> {
        let mut k = kcp::Kcp::new(1, out);
        k.set_nodelay(true, 10, 2, true);
        k.set_wndsize(128, 128);
        k
    }

    impl Pair {
        pub fn new(loss_pct: u64) -> Pair {
            let (a_out, b_out) = (Wire::default(), Wire::default());
            Pair {
                a: tuned(a_out.clone()),
                b: tuned(b_out.clone()),
                a_out,
                b_out,
                now: 0,
                loss: Loss::new(loss_pct),
                payload: PAYLOAD,
                buf: vec![0; 4096],
            }
        }

        fn deliver(&mut self, from_a: bool) {
            let wire = if from_a {
                self.a_out.clone()
            } else {
                self.b_out.clone()
            };
            loop {
                let Some(p) = wire.queue.borrow_mut().0.pop_front() else {
                    break;
                };
                if !self.loss.lost() {
                    let to = if from_a { &mut self.b } else { &mut self.a };
                    to.input(&p).unwrap();
                }
                wire.queue.borrow_mut().1.push(p);
            }
        }

        pub fn round(&mut self) {
            for _ in 0..BATCH {
                self.a.send(&self.payload).unwrap();
            }
            let mut received = 0;
            loop {
                self.a.update(self.now).unwrap();
                self.deliver(true);
                while let Ok(n) = self.b.recv(&mut self.buf) {
                    std::hint::black_box(&self.buf[..n]);
                    received += 1;
                }
                self.b.update(self.now).unwrap();
                self.deliver(false);
                if received == BATCH && self.a.wait_snd() == 0 {
                    break;
                }
                self.now += 10;
            }
        }
    }
}

/// rumqttc's side: two `MqttState`s, a publisher and a subscriber, QoS 1.
/// Publish goes over, the subscriber's state answers PubAck, the
/// publisher's state frees the packet id. "Acked" means nothing is in
/// flight. The states move `Packet`s directly (`codec: false`) or through
/// their v4 codec into a reused byte buffer and back (`codec: true`).
///
/// MQTT leaves loss to TCP: `MqttState` has no retransmission timer and
/// resends unacked publishes (DUP set, same packet id) only when a session
/// resumes (`MqttState::clean`). A lost packet here is therefore recovered
/// as the event loop would after a reconnect: once a flight is drained,
/// `clean()` and resend. Duplicates reach the subscriber again (QoS 1 is at
/// least once).
pub mod mqtt_side {
    use super::BATCH;
    use crate::common::{Loss, PAYLOAD};
    use bytes::{Bytes, BytesMut};
    use rumqttc::{Event, Incoming, MqttState, Packet, Publish, QoS, Request};
    use std::hint::black_box;

    const MAX: usize = 1 << 20;

    pub struct Pair {
        publisher: MqttState,
        subscriber: MqttState,
        codec: bool,
        loss: Loss,
        payload: Bytes,
        topics: Vec<String>,
        /// Encoded packets on their way, each direction (codec only).
        to_sub: BytesMut,
        to_pub: BytesMut,
        /// Decoded or moved packets waiting for the other state.
        acks: Vec<Packet>,
        publishes: Vec<Packet>,
    }

    impl Pair {
        pub fn new(loss_pct: u64, codec: bool) -> Pair {
            Pair {
                // 1,024 in flight, like ackwire and KCP's rounds.
                publisher: MqttState::new(BATCH as u16, false),
                subscriber: MqttState::new(BATCH as u16, false),
                codec,
                loss: Loss::new(loss_pct),
                payload: Bytes::from_static(&PAYLOAD),
                topics: (0..8).map(|s| format!("s/{s}")).collect(),
                to_sub: BytesMut::with_capacity(1 << 17),
                to_pub: BytesMut::with_capacity(1 << 14),
                acks: Vec::new(),
                publishes: Vec::new(),
            }
        }

        /// A packet from one state to the other: encoded and decoded with
        /// the codec, or moved; dropped when the loss RNG says so.
        fn wire(
            loss: &mut Loss,
            codec: bool,
            buf: &mut BytesMut,
            out: &mut Vec<Packet>,
            p: Packet,
        ) {
            if codec {
                let at = buf.len();
                p.write(buf, MAX).unwrap();
                if loss.lost() {
                    buf.truncate(at);
                }
            } else if !loss.lost() {
                out.push(p);
            }
        }

        fn decode(codec: bool, buf: &mut BytesMut, out: &mut Vec<Packet>) {
            if codec {
                while !buf.is_empty() {
                    out.push(Packet::read(buf, MAX).unwrap());
                }
            }
        }

        fn publish(&mut self, p: Publish) {
            let out = self
                .publisher
                .handle_outgoing_packet(Request::Publish(p))
                .unwrap()
                .unwrap();
            Self::wire(
                &mut self.loss,
                self.codec,
                &mut self.to_sub,
                &mut self.publishes,
                out,
            );
        }

        pub fn round(&mut self) {
            for i in 0..BATCH as usize {
                let topic = self.topics[i % 8].clone();
                let p = Publish::from_bytes(topic, QoS::AtLeastOnce, self.payload.clone());
                self.publish(p);
            }
            loop {
                Self::decode(self.codec, &mut self.to_sub, &mut self.publishes);
                for p in self.publishes.drain(..) {
                    if let Some(ack) = self.subscriber.handle_incoming_packet(p).unwrap() {
                        Self::wire(
                            &mut self.loss,
                            self.codec,
                            &mut self.to_pub,
                            &mut self.acks,
                            ack,
                        );
                    }
                }
                // The subscriber's app takes its messages.
                for e in self.subscriber.events.drain(..) {
                    if let Event::Incoming(Incoming::Publish(p)) = e {
                        black_box(&p.payload);
                    }
                }
                Self::decode(self.codec, &mut self.to_pub, &mut self.acks);
                for a in self.acks.drain(..) {
                    black_box(self.publisher.handle_incoming_packet(a).unwrap());
                }
                self.publisher.events.clear();
                if self.publisher.inflight() == 0 {
                    break;
                }
                // Lost packets: resend what is unacked, as after a reconnect.
                for r in self.publisher.clean() {
                    if let Request::Publish(mut p) = r {
                        p.dup = true;
                        self.publish(p);
                    }
                }
            }
        }
    }
}
