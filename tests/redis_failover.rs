//! Two chat servers sharing one real Redis, clients that move from one to
//! the other mid-conversation (a dropped connection, a killed server, a
//! client crash, Redis dropping the servers' connections): every client's
//! file must equal what Redis holds — nothing lost, nothing twice.
//!
//! Needs a running redis-server: `ACKWIRE_REDIS_URL` (default
//! `redis://127.0.0.1:6379/`). `.ci/run` starts one. Without it the test
//! fails; it never passes silently.

mod chat_harness;
mod store_contract;

use ackwire::store::{RedisStore, Store};
use ackwire::StreamId;
use chat_harness::{ClientSpec, Cluster};
use std::time::Duration;

/// One test at a time: the failover test drops every client connection
/// Redis has (`CLIENT KILL`), the other tests' too.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn url() -> String {
    std::env::var("ACKWIRE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

async fn connect(prefix: &str) -> RedisStore {
    let url = url();
    let store = RedisStore::connect(&url, prefix).await.unwrap_or_else(|e| {
        panic!(
            "the Redis tests need a running redis-server at {url} (set ACKWIRE_REDIS_URL, \
             or run .ci/run, which starts one): {e}"
        )
    });
    // Reachable for real, not just a lazily connecting handle.
    store
        .head(StreamId(0))
        .await
        .unwrap_or_else(|e| panic!("redis-server at {url} does not answer: {e}"));
    store
}

fn prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("ackwire-test-{name}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moves_between_two_servers_on_one_redis() {
    let _serial = SERIAL.lock().await;
    let prefix = prefix("failover");
    // Two server processes: each its own Redis connection.
    let (a, b) = (connect(&prefix).await, connect(&prefix).await);
    let mut cluster = Cluster::start("redis", vec![a.clone(), b.clone()]).await;
    // Client 1 starts on server A and moves; 2 lives on B; 3 (blocking)
    // starts on A.
    let specs = [
        (1, vec![1, 2], vec![0, 1], false),
        (2, vec![1, 2], vec![1, 0], false),
        (3, vec![1], vec![0, 1], true),
    ];
    for (id, conversations, servers, blocking) in specs.clone() {
        cluster.add_client(ClientSpec {
            id,
            conversations,
            servers,
            blocking,
        });
    }
    for round in 0..40usize {
        for (id, conversations, _, _) in &specs {
            let c = conversations[round % conversations.len()];
            cluster
                .send(*id, c, format!("client {id} round {round}"))
                .await;
        }
        match round {
            // A drops its connections: clients 1 and 3 go on on B.
            8 => cluster.servers[0].as_ref().unwrap().disconnect_all(),
            // Client 1 crashes and comes back (on A first).
            14 => cluster.crash_and_restart_client(1).await,
            // Server A dies: whoever is on it moves to B.
            20 => cluster.kill_server(0).await,
            // A is back; B drops everyone: they move to A.
            26 => {
                cluster.restart_server(0, a.clone()).await;
                cluster.servers[1].as_ref().unwrap().disconnect_all();
            }
            // Redis drops both servers' connections mid-conversation.
            32 => kill_redis_clients().await,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = cluster.wait_converged().await;
    eprintln!("{report:?}");
    assert_eq!(report.sent, 120);
    assert_eq!(report.stored, 120);
    assert_eq!(report.delivered, 2 * 120 + 80);
    cluster.shutdown().await;
}

/// `CLIENT KILL TYPE normal`: every other connection to Redis drops.
async fn kill_redis_clients() {
    let client = redis::Client::open(url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(killed >= 2, "both servers were connected ({killed} killed)");
}

#[tokio::test]
async fn the_store_contract_on_redis() {
    let _serial = SERIAL.lock().await;
    store_contract::contract(&connect(&prefix("contract")).await).await;
}

#[tokio::test]
async fn retention_on_redis() {
    let _serial = SERIAL.lock().await;
    store_contract::retention(&connect(&prefix("retention")).await).await;
}
