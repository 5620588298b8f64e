//! Appends per second and append latency of `RedisStore`, on one instance
//! or a cluster, with or without `WAIT`; and Redis memory per stored
//! message. The numbers in BENCHMARKS.md ("Redis store") come from it.
//!
//! ```sh
//! cargo run --release --features redis-store --example store_bench -- \
//!     --redis redis://127.0.0.1:6379/ [--wait 1] [--appends 20000] [--tasks 32]
//! cargo run --release --features redis-store --example store_bench -- \
//!     --redis-cluster redis://127.0.0.1:7000/,redis://127.0.0.1:7001/ --wait 1
//! ```
//! Each of `--tasks` tasks appends 64-byte payloads with receipt keys (as
//! the chat server does) to its own streams (`--streams`, spread over the
//! masters by their hash tags). Memory is `used_memory` summed over the
//! masters, before and after, divided by the messages stored.

use ackwire::store::{Durability, RedisStore, Store};
use ackwire::{StreamId, Version};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: store_bench (--redis URL | --redis-cluster URL,URL,...) [--wait N]\n\
         \x20                  [--appends N] [--tasks N] [--streams N]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut urls, mut cluster) = (Vec::new(), false);
    let (mut wait, mut appends, mut tasks, mut streams) = (0u32, 20_000u64, 32u64, 256u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--redis" => urls = vec![value()],
            "--redis-cluster" => {
                urls = value().split(',').map(String::from).collect();
                cluster = true;
            }
            "--wait" => wait = value().parse().unwrap_or_else(|_| usage()),
            "--appends" => appends = value().parse().unwrap_or_else(|_| usage()),
            "--tasks" => tasks = value().parse().unwrap_or_else(|_| usage()),
            "--streams" => streams = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if urls.is_empty() || tasks == 0 || streams < tasks {
        usage();
    }
    let prefix = format!(
        "bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = if cluster {
        let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
        RedisStore::connect_cluster(&nodes, &prefix).await
    } else {
        RedisStore::connect(&urls[0], &prefix).await
    }
    .expect("connect")
    .with_durability(Durability {
        replicas: wait,
        timeout: Duration::from_secs(1),
    })
    .expect("durability");
    let masters = masters(&urls, cluster).await;
    let before = used_memory(&masters).await;
    let payload = Bytes::from(vec![b'x'; 64]);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (store, payload) = (store.clone(), payload.clone());
        let per_task = appends / tasks;
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task as usize);
            for i in 0..per_task {
                let stream = StreamId(1 + t + (i % (streams / tasks)) * tasks);
                let key = ackwire::store::ReceiptKey {
                    client: t,
                    outbox: Version(i + 1),
                };
                let s = Instant::now();
                store
                    .append(stream, payload.clone(), Some(key))
                    .await
                    .expect("append");
                latencies.push(s.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    let took = start.elapsed();
    let after = used_memory(&masters).await;
    latencies.sort();
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let n = latencies.len() as f64;
    println!(
        "{} {} masters, WAIT {wait}: {} appends by {tasks} tasks in {:.2} s: {:.0} appends/s, \
         latency p50 {:.2} ms, p99 {:.2} ms; memory {:.0} B per stored 64-byte message",
        if cluster { "cluster" } else { "one instance" },
        masters.len(),
        latencies.len(),
        took.as_secs_f64(),
        n / took.as_secs_f64(),
        q(0.50).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        (after as f64 - before as f64) / n,
    );
}

/// The masters' URLs: the instance, or the cluster's masters.
async fn masters(urls: &[String], cluster: bool) -> Vec<String> {
    if !cluster {
        return urls.to_vec();
    }
    let mut out = Vec::new();
    for u in urls {
        let Ok(client) = redis::Client::open(u.as_str()) else {
            continue;
        };
        let Ok(mut con) = client.get_multiplexed_async_connection().await else {
            continue;
        };
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut con)
            .await
            .unwrap_or_default();
        if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
            out.push(u.clone());
        }
    }
    out
}

async fn used_memory(masters: &[String]) -> u64 {
    let mut total = 0;
    for u in masters {
        let client = redis::Client::open(u.as_str()).expect("url");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("node");
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut con)
            .await
            .expect("INFO");
        total += info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}
