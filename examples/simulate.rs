//! The demo: an IM server pushes messages on many conversations to a client
//! over a lossy, duplicating, reordering in-memory link, on a virtual clock.
//! The client app stores each delivered message and commits it after a
//! random delay. At the end an independent checker compares what the client
//! stored against what the server sent.
//!
//! `cargo run --release --example simulate -- --help`

use ackwire::*;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    messages: u64,
    streams: u64,
    loss: u64,
    dup: u64,
    latency: u64,
    jitter: u64,
    commit_delay: u64,
    seed: u64,
}

const USAGE: &str = "simulate [--messages N] [--streams N] [--loss PCT] [--dup PCT] \
[--latency MS] [--jitter MS] [--commit-delay MS] [--seed S]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        messages: 20_000,
        streams: 16,
        loss: 20,
        dup: 5,
        latency: 30,
        jitter: 40,
        commit_delay: 20,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let v: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--messages" => a.messages = v,
            "--streams" => a.streams = v.max(1),
            "--loss" => a.loss = v.min(90),
            "--dup" => a.dup = v.min(100),
            "--latency" => a.latency = v,
            "--jitter" => a.jitter = v,
            "--commit-delay" => a.commit_delay = v,
            "--seed" => a.seed = v,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// splitmix64: a tiny seeded generator, so a seed always gives the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Something scheduled on the virtual clock.
enum Due {
    ToClient(Bytes),
    ToServer(Bytes),
    Commit(StreamId, Version),
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        max_packet_size: 1200,
        max_retransmits: 30,
        max_rto: Duration::from_secs(2),
        peer_dead_after: Duration::from_secs(24 * 3600),
        ..Config::default()
    };
    let mut rng = Rng(args.seed);
    let mut server = Sender::new(config.clone());
    let mut client = Receiver::new(config);

    // The server's store: what it sent, per stream, in order.
    let mut heads: HashMap<u64, u64> = HashMap::new();
    let mut sent: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut sent_at: HashMap<(u64, u64), u64> = HashMap::new();
    let mut next_to_send = 0u64;
    let mut pending_send: Option<Message> = None;
    // The client's store: what it committed, per stream, in order of delivery.
    let mut stored: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut latencies: Vec<u64> = Vec::with_capacity(args.messages as usize);
    let (mut acked, mut escalated, mut packets_down, mut packets_up) = (0u64, 0u64, 0u64, 0u64);

    let mut queue: BTreeMap<(u64, u64), Due> = BTreeMap::new();
    let mut seq = 0u64;
    let mut now_us = 0u64;
    let mut steps = 0u64;
    let step_limit = 50_000_000u64;

    while acked + escalated < args.messages {
        steps += 1;
        if steps > step_limit {
            eprintln!("no progress after {step_limit} steps: stopping (this is a bug)");
            return ExitCode::FAILURE;
        }
        let now = Instant::from_micros(now_us);
        // The server app sends one message per virtual millisecond.
        while next_to_send < args.messages && now_us >= next_to_send * 1000 {
            let m = pending_send.take().unwrap_or_else(|| {
                let s = rng.below(args.streams);
                let prev = *heads.get(&s).unwrap_or(&0);
                let version = prev + 1 + rng.below(3);
                heads.insert(s, version);
                sent.entry(s).or_default().push(version);
                sent_at.insert((s, version), now_us);
                let payload = Bytes::from(format!("message {next_to_send} on stream {s}"));
                Message::new(StreamId(s), Version(prev), Version(version), payload)
            });
            match server.send(now, m.clone()) {
                Ok(()) => next_to_send += 1,
                Err(SendError::Backpressure) => {
                    pending_send = Some(m);
                    break;
                }
                Err(e) => panic!("send failed: {e}"),
            }
        }
        // Both directions through the faulty link.
        for down in [true, false] {
            loop {
                let p = if down {
                    server.poll_transmit(now)
                } else {
                    client.poll_transmit(now)
                };
                let Some(p) = p else { break };
                if down {
                    packets_down += 1;
                } else {
                    packets_up += 1;
                }
                let copies = if rng.chance(args.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    if rng.chance(args.loss) {
                        continue;
                    }
                    let at = now_us + (args.latency + rng.below(args.jitter + 1)) * 1000;
                    seq += 1;
                    let due = if down {
                        Due::ToClient(p.clone())
                    } else {
                        Due::ToServer(p.clone())
                    };
                    queue.insert((at, seq), due);
                }
            }
        }
        while let Some(e) = client.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                let key = (m.stream.0, m.version.0);
                latencies.push((now_us - sent_at[&key]) / 1000);
                stored.entry(m.stream.0).or_default().push(m.version.0);
                let at = now_us + rng.below(args.commit_delay + 1) * 1000;
                seq += 1;
                queue.insert((at, seq), Due::Commit(m.stream, m.version));
            }
        }
        while let Some(e) = server.poll_event() {
            match e {
                SenderEvent::Acked { .. } => acked += 1,
                SenderEvent::Escalated(_) => escalated += 1,
                SenderEvent::PeerDead { .. } => {
                    eprintln!("peer declared dead");
                    return ExitCode::FAILURE;
                }
                _ => {}
            }
        }
        // Advance the clock to the next thing that happens.
        let next_send =
            (next_to_send < args.messages && pending_send.is_none()).then_some(next_to_send * 1000);
        let next = [
            queue.keys().next().map(|k| k.0),
            server.poll_timeout().map(Instant::as_micros),
            client.poll_timeout().map(Instant::as_micros),
            next_send,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now_us = now_us.max(next);
        let now = Instant::from_micros(now_us);
        while let Some(entry) = queue.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            match entry.remove() {
                Due::ToClient(p) => client.handle_input(now, p).expect("valid packet"),
                Due::ToServer(p) => server.handle_input(now, p).expect("valid packet"),
                Due::Commit(s, v) => client.commit(now, s, v).expect("commit"),
            }
        }
        server.handle_timeout(now);
        client.handle_timeout(now);
    }

    // The checker: knows only what was sent and what the client stored.
    let (mut lost, mut duplicated, mut out_of_order) = (0u64, 0u64, 0u64);
    for (stream, versions) in &sent {
        let got = stored.get(stream).map(Vec::as_slice).unwrap_or(&[]);
        let mut seen = std::collections::HashSet::new();
        for v in got {
            if !seen.insert(*v) {
                duplicated += 1;
            }
        }
        lost += versions.iter().filter(|v| !seen.contains(v)).count() as u64;
        out_of_order += got.windows(2).filter(|w| w[0] >= w[1]).count() as u64;
    }
    latencies.sort_unstable();
    let s = server.stats();
    let r = client.stats();
    let row = |k: &str, v: String| println!("  {k:<34} {v:>14}");
    println!(
        "ackwire simulate: {} messages on {} streams, loss {}%, dup {}%, latency {}+{} ms, seed {}",
        args.messages, args.streams, args.loss, args.dup, args.latency, args.jitter, args.seed
    );
    row("sent (first transmissions)", s.sent.to_string());
    row("delivered to the app", r.delivered.to_string());
    row("acked after commit", acked.to_string());
    row("retransmits", s.retransmits.to_string());
    row(
        "  of which fast retransmits",
        s.fast_retransmits.to_string(),
    );
    row("duplicates dropped by receiver", r.duplicates.to_string());
    row("escalated to offline storage", escalated.to_string());
    row("packets server -> client", packets_down.to_string());
    row("packets client -> server (acks)", packets_up.to_string());
    row(
        "virtual time elapsed",
        format!("{:.1} s", now_us as f64 / 1e6),
    );
    row(
        "delivery latency p50",
        format!("{} ms", percentile(&latencies, 0.50)),
    );
    row(
        "delivery latency p99",
        format!("{} ms", percentile(&latencies, 0.99)),
    );
    row(
        "delivery latency max",
        format!("{} ms", latencies.last().copied().unwrap_or(0)),
    );
    row("checker: lost", lost.to_string());
    row("checker: duplicated", duplicated.to_string());
    row("checker: out of order", out_of_order.to_string());
    if lost + duplicated + out_of_order > 0 || acked != args.messages {
        println!("FAILED: the checker found problems or not every message was acked");
        return ExitCode::FAILURE;
    }
    println!("OK: every message delivered exactly once, in order, and acked after commit");
    ExitCode::SUCCESS
}
