//! A driver for profilers: the side-by-side full loop (benches/full_loop.rs,
//! 1,024 64-byte messages per round on 8 streams) for a given number of
//! messages and loss, with nothing else in the process.
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release --example profile_loop
//! perf record -g target/release/examples/profile_loop 10 2000000
//! perf report --no-children
//! ```
//! Arguments: loss percent (default 0), measured messages (default 2,000,000).

#[path = "../benches/common/mod.rs"]
mod common;

use common::Pair;

fn main() {
    let mut args = std::env::args().skip(1);
    let loss: u64 = args.next().map_or(0, |a| a.parse().expect("loss percent"));
    let messages: u64 = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("messages"));
    // Lossless: one pair in steady state. With loss, as the criterion
    // bench does: a fresh pair, one warm-up round, one measured round (a
    // pair driven longer at 10 % loss stops: tests/bench_loop_liveness.rs);
    // only the second rounds are timed, but a profile sees both.
    let pairs = messages / 1024;
    let mut spent = std::time::Duration::ZERO;
    let (mut packets, mut retransmits, mut acks) = (0, 0, 0);
    if loss == 0 {
        let mut p = Pair::new(Pair::full_loop_config(), 8, 0);
        p.round(1024);
        let t = std::time::Instant::now();
        for _ in 0..pairs {
            p.round(1024);
        }
        let ns = t.elapsed().as_nanos() as f64 / (pairs * 1024) as f64;
        let (tx, rx) = (p.tx.stats(), p.rx.stats());
        println!(
            "{} messages, lossless, one pair: {ns:.0} ns per message; {} packets, {} acks",
            pairs * 1024,
            tx.packets,
            rx.acks_sent
        );
        return;
    }
    for _ in 0..pairs {
        let mut p = Pair::new(Pair::full_loop_config(), 8, loss);
        p.round(1024);
        let t = std::time::Instant::now();
        p.round(1024);
        spent += t.elapsed();
        let (tx, rx) = (p.tx.stats(), p.rx.stats());
        packets += tx.packets;
        retransmits += tx.retransmits;
        acks += rx.acks_sent;
    }
    let ns = spent.as_nanos() as f64 / (pairs * 1024) as f64;
    println!(
        "{} measured messages at {loss}% loss: {ns:.0} ns per message; \
         (both rounds:) {packets} packets, {retransmits} retransmits, {acks} acks",
        pairs * 1024,
    );
}
