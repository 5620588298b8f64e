//! Measures the chat server for BENCHMARKS.md (not a test).
//!
//! ```sh
//! # N idle authenticated connections; prints the server's RSS per connection.
//! chat_bench idle --server 127.0.0.1:7701 --pid SERVER_PID --n 10000
//! # Senders on server A, one member on server B: messages per second end
//! # to end through Redis, and the delivery latency from A to B.
//! chat_bench relay --from 127.0.0.1:7701 --to 127.0.0.1:7702 --senders 8 --messages 20000
//! ```
//! Tokens come from `CHAT_SECRET`.

#[path = "chat/mod.rs"]
mod chat;

use ackwire::{Connection, Event, ReceiverEvent, SenderEvent, StreamId, Version};
use chat::auth::Secret;
use chat::client::{open, ServerAddr};
use chat::wire::{self, Hello, PacketSink, PacketStream, Status};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> u64 {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn hello(secret: &Secret, id: u64, conv: u64) -> Vec<u8> {
    Hello {
        client: id,
        token: secret.token(id),
        acked_outbox: Version::ZERO,
        conversations: vec![(conv, Version::ZERO)],
    }
    .encode()
}

#[tokio::main]
async fn main() {
    chat::raise_nofile_limit().expect("file limit");
    let secret = Secret::new(
        std::env::var("CHAT_SECRET")
            .expect("CHAT_SECRET")
            .into_bytes(),
    );
    match std::env::args().nth(1).as_deref() {
        Some("idle") => idle(&secret).await,
        Some("relay") => relay(&secret).await,
        _ => eprintln!("usage: chat_bench idle|relay ... (see the file's docs)"),
    }
}

async fn idle(secret: &Secret) {
    let server: ServerAddr = arg("--server").expect("--server").parse().unwrap();
    let pid: u32 = num("--pid", 0) as u32;
    let n = num("--n", 10_000);
    let before = chat::rss_bytes(pid);
    let mut held = Vec::new();
    let start = Instant::now();
    for i in 0..n {
        // One conversation per 100 clients.
        let (r, w, reply) = open(server, &hello(secret, 1_000_000 + i, 1 + i / 100))
            .await
            .expect("connect");
        assert_eq!(reply.status, Status::Ok);
        held.push((r, w));
    }
    let took = start.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = chat::rss_bytes(pid);
    let hold = num("--hold", 0);
    println!(
        "{n} idle connections opened in {:.1} s; server RSS {:.1} MB -> {:.1} MB: {:.0} B per connection",
        took.as_secs_f64(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after.saturating_sub(before)) as f64 / n as f64
    );
    tokio::time::sleep(Duration::from_secs(hold)).await;
}

/// Writes what `conn` has to send, then waits for its next packet or its
/// next deadline, whichever comes first.
async fn exchange(
    conn: &mut Connection,
    r: &mut PacketStream,
    w: &mut PacketSink,
    clock: wire::Clock,
) {
    while let Some(p) = conn.poll_transmit(clock.now()) {
        w.feed(p).await.unwrap();
    }
    w.flush().await.unwrap();
    let deadline = conn.poll_timeout().map(|d| clock.to_tokio(d));
    tokio::select! {
        p = r.next() => conn.handle_input(clock.now(), p.unwrap().unwrap()).unwrap(),
        _ = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {}
    }
}

async fn relay(secret: &Secret) {
    let from: ServerAddr = arg("--from").expect("--from").parse().unwrap();
    let to: ServerAddr = arg("--to").expect("--to").parse().unwrap();
    let senders = num("--senders", 8);
    let total = num("--messages", 20_000);
    let conv = num("--conv", 900_000 + u64::from(std::process::id()));
    let clock = wire::Clock::new();
    // The member on server B.
    let (mut r, mut w, reply) = open(to, &hello(secret, 5_000_000, conv)).await.unwrap();
    assert_eq!(reply.status, Status::Ok);
    let receiver = tokio::spawn(async move {
        let mut conn = Connection::new(wire::config(), wire::CONNECTION_ID);
        let mut lat = Vec::new();
        let mut first = None;
        while (lat.len() as u64) < total {
            let now = clock.now();
            if conn.poll_timeout().is_some_and(|d| d <= now) {
                conn.handle_timeout(now);
            }
            while let Some(e) = conn.poll_event() {
                if let Event::Receiver(ReceiverEvent::Deliver(m)) = e {
                    if let Some((_, _, text)) = wire::parse_conversation_payload(m.payload.clone())
                    {
                        let sent = u64::from_be_bytes(text[..8].try_into().unwrap());
                        lat.push(clock.now().as_micros().saturating_sub(sent));
                        first.get_or_insert_with(Instant::now);
                    }
                    let _ = conn.commit(clock.now(), m.stream, m.version);
                }
            }
            exchange(&mut conn, &mut r, &mut w, clock).await;
        }
        (lat, first.unwrap().elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per = total / senders;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let h = hello(secret, 6_000_000 + conv * 100 + s, conv);
        tasks.push(tokio::spawn(async move {
            let (mut r, mut w, reply) = open(from, &h).await.unwrap();
            assert_eq!(reply.status, Status::Ok);
            let mut conn = Connection::new(wire::config(), wire::CONNECTION_ID);
            let (mut next, mut acked) = (1u64, 0u64);
            while acked < per {
                let now = clock.now();
                if conn.poll_timeout().is_some_and(|d| d <= now) {
                    conn.handle_timeout(now);
                }
                while let Some(e) = conn.poll_event() {
                    if let Event::Sender(SenderEvent::Acked { .. }) = e {
                        acked += 1;
                    }
                }
                // At most 64 sends waiting for their ack.
                while next <= per && next - 1 - acked < 64 {
                    let mut text = clock.now().as_micros().to_be_bytes().to_vec();
                    text.extend_from_slice(b" relay");
                    let m = chat::app::outbox_message(next, conv, &text);
                    if conn.send(clock.now(), m).is_err() {
                        break;
                    }
                    next += 1;
                }
                exchange(&mut conn, &mut r, &mut w, clock).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stored_in = start.elapsed();
    let (mut lat, delivered_in) = receiver.await.unwrap();
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    println!(
        "{} messages from {senders} senders on {from} to a member on {to}: stored and acked in {:.2} s ({:.0}/s); delivered at {:.0}/s; latency sender -> member p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        stored_in.as_secs_f64(),
        total as f64 / stored_in.as_secs_f64(),
        total as f64 / delivered_in.as_secs_f64(),
        q(0.50),
        q(0.99),
        q(1.0)
    );
    let _ = StreamId(conv);
}
