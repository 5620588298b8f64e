//! The links between the clients and the server: latency, loss,
//! duplication and reordering from [`LinkConfig`](crate::sim::LinkConfig),
//! and partitions that cut a client off, packets on the way included.

use super::{Ev, World};
use crate::error::InputError;
use crate::packet::ConnectionId;
use crate::sim::check::ClientId;
use crate::sim::scenario::SimError;
use bytes::Bytes;

impl World {
    pub(super) fn put_on_link(&mut self, c: usize, to_server: bool, epoch: u64, bytes: Bytes) {
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

    pub(super) fn arrive(&mut self, c: usize, to_server: bool, epoch: u64, bytes: Bytes) {
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
}
