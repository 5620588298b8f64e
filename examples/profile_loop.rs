//! A driver for profilers: the side-by-side full loop (benches/full_loop.rs,
//! 1,024 64-byte messages per round) for a given number of messages and
//! loss, with nothing else in the process — ackwire on 8 streams, or one
//! of the peers the bench compares it with.
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release --example profile_loop
//! perf record -g target/release/examples/profile_loop 10 2000000
//! perf report --no-children
//! # instructions per message, independent of machine load:
//! valgrind --tool=callgrind target/release/examples/profile_loop 0 204800 kcp
//! ```
//! Arguments: loss percent (default 0), messages (default 2,000,000), peer
//! (`ackwire` (default), `kcp`, `mqtt-state`, `mqtt-codec`).

#[path = "../benches/common/mod.rs"]
mod common;
#[path = "../benches/common/peers.rs"]
mod peers;

use common::Pair;
use peers::{kcp_side, mqtt_side, BATCH};

fn main() {
    let mut args = std::env::args().skip(1);
    let loss: u64 = args.next().map_or(0, |a| a.parse().expect("loss percent"));
    let messages: u64 = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("messages"));
    let peer = args.next().unwrap_or_else(|| "ackwire".into());
    // One pair in steady state; a warm-up round first.
    let rounds = messages / BATCH;
    // Built only for its own runs: a peer's instruction count must not
    // include setting up an ackwire pair.
    let ackwire = (peer == "ackwire").then(|| {
        std::rc::Rc::new(std::cell::RefCell::new(Pair::new(
            Pair::full_loop_config(),
            8,
            loss,
        )))
    });
    let mut round: Box<dyn FnMut()> = match (peer.as_str(), &ackwire) {
        ("ackwire", Some(p)) => {
            let p = p.clone();
            Box::new(move || p.borrow_mut().round(BATCH))
        }
        ("kcp", _) => {
            let mut p = kcp_side::Pair::new(loss);
            Box::new(move || p.round())
        }
        ("mqtt-state" | "mqtt-codec", _) => {
            let mut p = mqtt_side::Pair::new(loss, peer == "mqtt-codec");
            Box::new(move || p.round())
        }
        (other, _) => panic!("unknown peer {other}: ackwire, kcp, mqtt-state or mqtt-codec"),
    };
    round();
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        round();
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * BATCH) as f64;
    println!(
        "{peer}: {} messages at {loss}% loss after one warm-up round: {ns:.0} ns per message",
        rounds * BATCH
    );
    if let Some(p) = &ackwire {
        let p = p.borrow();
        let (tx, rx) = (p.tx.stats(), p.rx.stats());
        println!(
            "{} packets, {} retransmits ({} fast), {} acks, {} ms of virtual time",
            tx.packets,
            tx.retransmits,
            tx.fast_retransmits,
            rx.acks_sent,
            p.now / 1000
        );
    }
}
