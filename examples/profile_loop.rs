//! A driver for profilers: the side-by-side full loop (benches/full_loop.rs,
//! 1,024 64-byte messages per round on 8 streams) for a given number of
//! messages and loss, with nothing else in the process.
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release --example profile_loop
//! perf record -g target/release/examples/profile_loop 10 2000000
//! perf report --no-children
//! ```
//! Arguments: loss percent (default 0), messages (default 2,000,000).

#[path = "../benches/common/mod.rs"]
mod common;

use common::Pair;

fn main() {
    let mut args = std::env::args().skip(1);
    let loss: u64 = args.next().map_or(0, |a| a.parse().expect("loss percent"));
    let messages: u64 = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("messages"));
    // One pair in steady state; a warm-up round first.
    let rounds = messages / 1024;
    let mut p = Pair::new(Pair::full_loop_config(), 8, loss);
    p.round(1024);
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        p.round(1024);
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * 1024) as f64;
    let (tx, rx) = (p.tx.stats(), p.rx.stats());
    println!(
        "{} messages at {loss}% loss: {ns:.0} ns per message; {} packets, {} retransmits \
         ({} fast), {} acks, {} ms of virtual time",
        rounds * 1024,
        tx.packets,
        tx.retransmits,
        tx.fast_retransmits,
        rx.acks_sent,
        p.now / 1000
    );
}
