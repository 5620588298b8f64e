//! A chat server over TCP and WebSocket on tokio, with an in-memory store
//! or Redis.
//!
//! ```sh
//! export CHAT_SECRET=change-me        # or --secret-file FILE
//! cargo run --example chat_server -- --listen 127.0.0.1:7700
//! cargo run --features redis-store --example chat_server -- \
//!     --listen 127.0.0.1:7701 --ws-listen 127.0.0.1:7711 --metrics 127.0.0.1:9101 \
//!     --redis redis://127.0.0.1:6379/ --prefix chat
//! cargo run --features redis-store --example chat_server -- --listen 127.0.0.1:7701 \
//!     --redis-cluster redis://127.0.0.1:7000/,redis://127.0.0.1:7001/ --redis-wait 1
//! cargo run --example chat_server -- --print-token 1   # a client's token
//! cargo run --example chat_server -- --ws-listen 127.0.0.1:7711 \
//!     --metrics 127.0.0.1:9101 --web web/www   # the browser client (web/)
//! ```
//! Clients: `chat_client` and `chat_client_blocking` (see their docs).
//! SIGTERM or Ctrl-C: connections are closed cleanly, the process exits 0.

#[path = "chat/mod.rs"]
mod chat;

use chat::auth::Secret;
use chat::metrics::Metrics;
use chat::server::{self, Listeners, ServerOptions};
use std::time::Duration;
use tracing::{info, warn};

fn usage() -> ! {
    eprintln!(
        "usage: chat_server [--listen ADDR] [--ws-listen ADDR] [--metrics ADDR [--web DIR]]\n\
         \x20                  [--redis URL | --redis-cluster URL,URL,...] [--prefix P]\n\
         \x20                  [--redis-wait REPLICAS [--redis-wait-ms MS]] [--retain-count N]\n\
         \x20                  [--secret-file FILE]\n\
         \x20                  [--max-connections N] [--keepalive-ms MS] [--dead-after-ms MS]\n\
         \x20      chat_server --print-token CLIENT_ID\n\
         The secret comes from --secret-file or the CHAT_SECRET environment variable.\n\
         --web DIR serves DIR's files (the browser client, built by web/build.sh)\n\
         on the --metrics listener.\n\
         --redis-cluster takes a Redis Cluster's seed nodes; --redis-wait N acks a\n\
         message only after N replicas confirmed it (WAIT, --redis-wait-ms each,\n\
         500 by default). --retain-count N keeps only each conversation's newest\n\
         N messages in Redis (at least 1); a client asking for older ones is told\n\
         where retained history starts."
    );
    std::process::exit(2)
}

/// The servers' shared secret: a file or `CHAT_SECRET`.
pub fn secret(file: Option<&str>) -> Secret {
    let bytes = match file {
        Some(f) => std::fs::read(f).unwrap_or_else(|e| {
            eprintln!("chat_server: cannot read the secret file {f}: {e}");
            std::process::exit(2)
        }),
        None => match std::env::var("CHAT_SECRET") {
            Ok(s) if !s.is_empty() => s.into_bytes(),
            _ => usage(),
        },
    };
    let trimmed = bytes.trim_ascii_end().to_vec();
    Secret::new(trimmed)
}

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:7700".to_string();
    let mut ws_listen: Option<String> = None;
    let mut metrics_listen: Option<String> = None;
    let mut web: Option<String> = None;
    let mut redis: Option<RedisOpts> = None;
    let mut cluster = false;
    let mut prefix = "chat".to_string();
    let mut wait: u32 = 0;
    let mut wait_ms: u64 = 500;
    let mut retain_count: Option<u64> = None;

    let mut secret_file: Option<String> = None;
    let mut print_token: Option<u64> = None;
    let mut max_connections: Option<usize> = None;
    let mut keepalive: Option<u64> = None;
    let mut dead_after: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--listen" => listen = value(),
            "--ws-listen" => ws_listen = Some(value()),
            "--metrics" => metrics_listen = Some(value()),
            "--web" => web = Some(value()),
            "--redis" => {
                redis = Some(RedisOpts::new(vec![value()]));
                cluster = false;
            }
            "--redis-cluster" => {
                redis = Some(RedisOpts::new(
                    value().split(',').map(String::from).collect(),
                ));
                cluster = true;
            }
            "--redis-wait" => wait = value().parse().unwrap_or_else(|_| usage()),
            "--redis-wait-ms" => wait_ms = value().parse().unwrap_or_else(|_| usage()),
            "--retain-count" => {
                retain_count = Some(value().parse().unwrap_or_else(|_| usage()));
            }
            "--prefix" => prefix = value(),
            "--secret-file" => secret_file = Some(value()),
            "--print-token" => print_token = Some(value().parse().unwrap_or_else(|_| usage())),
            "--max-connections" => {
                max_connections = Some(value().parse().unwrap_or_else(|_| usage()))
            }
            "--keepalive-ms" => keepalive = Some(value().parse().unwrap_or_else(|_| usage())),
            "--dead-after-ms" => dead_after = Some(value().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    if let Some(r) = redis.as_mut() {
        r.cluster = cluster;
        r.wait = wait;
        r.wait_ms = wait_ms;
        r.retain_count = retain_count;
    } else if wait > 0 {
        eprintln!("chat_server: --redis-wait needs --redis or --redis-cluster");
        usage();
    } else if retain_count.is_some() {
        eprintln!("chat_server: --retain-count needs --redis or --redis-cluster");
        usage();
    }
    if web.is_some() && metrics_listen.is_none() {
        eprintln!("chat_server: --web needs --metrics (the page is served there)");
        usage();
    }
    let secret = secret(secret_file.as_deref());
    // Trying it out (the secret in CHAT_SECRET, from which clients derive
    // their tokens anyway): log ready-made page links for clients 1 and 2.
    let demo_links = (web.is_some() && secret_file.is_none()).then(|| {
        [1u64, 2]
            .map(|id| (id, chat::wire::hex(&secret.token(id))))
            .to_vec()
    });
    if let Some(id) = print_token {
        println!("{}", chat::wire::hex(&secret.token(id)));
        return Ok(());
    }
    chat::init_logging();
    match chat::raise_nofile_limit() {
        Ok(n) => info!(open_files = n, "file limit"),
        Err(e) => warn!(error = %e, "could not raise the file limit"),
    }
    let mut options = ServerOptions::new(secret);
    if let Some(n) = max_connections {
        options.max_connections = n;
    }
    if let Some(ms) = keepalive {
        options.keepalive = Duration::from_millis(ms);
    }
    if let Some(ms) = dead_after {
        options.dead_after = Duration::from_millis(ms);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(
            listen,
            ws_listen,
            metrics_listen,
            web.map(|dir| (dir, demo_links.unwrap_or_default())),
            redis,
            prefix,
            options,
        ))
}

async fn run(
    listen: String,
    ws_listen: Option<String>,
    metrics_listen: Option<String>,
    web: Option<(String, Vec<(u64, String)>)>,
    redis: Option<RedisOpts>,
    prefix: String,
    options: ServerOptions,
) -> std::io::Result<()> {
    let metrics = Metrics::new();
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT"),
        }
        let _ = shutdown_tx.send(true);
    });
    let bind = || async {
        let tcp = tokio::net::TcpListener::bind(&listen).await?;
        let ws = match &ws_listen {
            Some(a) => Some(tokio::net::TcpListener::bind(a).await?),
            None => None,
        };
        if let Some(a) = &metrics_listen {
            let l = tokio::net::TcpListener::bind(a).await?;
            let http = l.local_addr()?;
            info!("metrics on http://{http}/metrics");
            let dir = web
                .as_ref()
                .map(|(dir, _)| std::sync::Arc::from(std::path::Path::new(dir)));
            if let Some((dir, links)) = &web {
                info!("web client (files in {dir}) on http://{http}/");
                let ws = ws_listen.as_deref().unwrap_or("WS-LISTEN-ADDR");
                for (id, token) in links {
                    info!("  client {id}: http://{http}/?id={id}&token={token}&conv=1&server=ws://{ws}/");
                }
            }
            tokio::spawn(chat::metrics::serve(l, metrics.clone(), dir));
        }
        info!("listening on {} (tcp)", tcp.local_addr()?);
        if let Some(ws) = &ws {
            info!("listening on ws://{}/ (websocket)", ws.local_addr()?);
        }
        Ok::<_, std::io::Error>(Listeners { tcp, ws })
    };
    // Nothing kicks connections here; the sender must outlive the server.
    let (_kick, kick) = tokio::sync::watch::channel(0);
    match redis {
        None => {
            warn!("in-memory store: everything is lost when the server stops");
            let store = ackwire::store::MemoryStore::new();
            let listeners = bind().await?;
            server::serve(listeners, store, options, metrics, kick, shutdown).await;
        }
        #[cfg(feature = "redis-store")]
        Some(opts) => {
            let Some(store) = connect_redis(&opts, &prefix, shutdown.clone()).await else {
                info!("stopped before Redis answered");
                return Ok(());
            };
            info!(
                urls = ?opts.urls,
                cluster = opts.cluster,
                wait_replicas = opts.wait,
                "Redis store, keys under {prefix}:"
            );
            let listeners = bind().await?;
            server::serve(listeners, store, options, metrics, kick, shutdown).await;
        }
        #[cfg(not(feature = "redis-store"))]
        Some(opts) => {
            let _ = prefix;
            eprintln!(
                "chat_server: built without Redis, so {} can not be used; use --features redis-store",
                opts.urls.join(",")
            );
            std::process::exit(2)
        }
    }
    info!("stopped");
    Ok(())
}

/// How to reach Redis and what to ask of it.
#[derive(Debug)]
struct RedisOpts {
    /// One instance's URL, or a cluster's seed nodes.
    urls: Vec<String>,
    cluster: bool,
    /// Replicas each write waits for (`WAIT`); 0: none.
    wait: u32,
    wait_ms: u64,
    /// Messages kept per conversation (`None`: all).
    retain_count: Option<u64>,
}

impl RedisOpts {
    fn new(urls: Vec<String>) -> RedisOpts {
        RedisOpts {
            urls,
            cluster: false,
            wait: 0,
            wait_ms: 500,
            retain_count: None,
        }
    }
}

/// Connects to Redis, retrying with backoff (100 ms doubling to 5 s) until
/// it answers a command, or `None` if shutdown comes first. A server never
/// listens before its store answers. A bad setting exits (status 2).
#[cfg(feature = "redis-store")]
async fn connect_redis(
    opts: &RedisOpts,
    prefix: &str,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<ackwire::store::RedisStore> {
    use ackwire::store::{Durability, RedisStore, RedisStoreError, Retention, Store};
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let store = if opts.cluster {
                let nodes: Vec<&str> = opts.urls.iter().map(String::as_str).collect();
                RedisStore::connect_cluster(&nodes, prefix).await?
            } else {
                RedisStore::connect(&opts.urls[0], prefix).await?
            };
            let store = store.with_durability(Durability {
                replicas: opts.wait,
                timeout: Duration::from_millis(opts.wait_ms),
            })?;
            let store = store.with_retention(Retention {
                max_messages: opts.retain_count,
                max_age: None,
            })?;
            store.head(ackwire::StreamId(0)).await?;
            Ok::<_, RedisStoreError>(store)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(store)) => return Some(store),
            Ok(Err(RedisStoreError::Config(what))) => {
                eprintln!("chat_server: {what}");
                std::process::exit(2)
            }
            Ok(Err(e)) => warn!(error = %e, retry_in = ?backoff, "Redis not reachable"),
            Err(_) => warn!(retry_in = ?backoff, "Redis not answering"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return None,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
