//! The tokio server and three clients (two tokio, one blocking) on
//! loopback, with dropped connections, client crashes and a server crash
//! mid-conversation. Every client's file must end up equal to the server's
//! store: every message exactly once, in order, and every send stored once
//! under the version its receipt names.

mod chat_harness;

use ackwire::store::MemoryStore;
use chat_harness::{ClientSpec, Cluster};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_order_across_drops_and_crashes() {
    let store = MemoryStore::new();
    let mut cluster = Cluster::start("tokio", vec![store.clone()]).await;
    let specs = [
        (1, vec![1, 2], false),
        (2, vec![1, 2, 3], false),
        (3, vec![1, 3], true),
    ];
    for (id, conversations, blocking) in specs.clone() {
        cluster.add_client(ClientSpec {
            id,
            conversations,
            servers: vec![0],
            blocking,
        });
    }
    for round in 0..60usize {
        for (id, conversations, _) in &specs {
            let c = conversations[round % conversations.len()];
            cluster
                .send(*id, c, format!("client {id} round {round}"))
                .await;
        }
        match round {
            15 => cluster.servers[0].as_ref().unwrap().disconnect_all(),
            25 => cluster.crash_and_restart_client(1).await,
            35 => {
                // The server process dies; its database (and the store's
                // allocator, which restarts) outlives it.
                cluster.kill_server(0).await;
                store.restart();
                cluster.restart_server(0, store.clone()).await;
            }
            45 => cluster.crash_and_restart_client(3).await,
            50 => cluster.crash_and_restart_client(2).await,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = cluster.wait_converged().await;
    eprintln!("{report:?}");
    assert_eq!(report.sent, 180);
    assert_eq!(report.stored, 180);
    cluster.shutdown().await;
}

/// `chat_server --web DIR` serves only plain names under DIR, of the kinds
/// a page needs: nothing outside DIR, no hidden files, no other types.
#[test]
fn web_files_stay_inside_their_directory() {
    use chat_harness::chat::metrics::static_file;
    use std::path::Path;
    let dir = Path::new("/srv/www");
    let kind = |p: &str| static_file(dir, p).map(|(k, f)| (k.split(';').next().unwrap(), f));
    assert_eq!(kind("/"), Some(("text/html", dir.join("index.html"))));
    assert_eq!(
        kind("/app.js"),
        Some(("text/javascript", dir.join("app.js")))
    );
    assert_eq!(
        kind("/pkg/ackwire_web_bg.wasm"),
        Some(("application/wasm", dir.join("pkg/ackwire_web_bg.wasm")))
    );
    for bad in [
        "/../Cargo.toml",
        "/pkg/../../x.js",
        "/.hidden.js",
        "//etc/x.js",
        "/%2e%2e/x.js",
        "/a b.js",
        "/Cargo.toml",
        "/pkg/",
        "index.html",
    ] {
        assert_eq!(kind(bad), None, "{bad}");
    }
}
