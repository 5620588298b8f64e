//! A chat server over TCP on tokio, with an in-memory store or Redis.
//!
//! ```sh
//! cargo run --example chat_server -- --listen 127.0.0.1:7700
//! cargo run --features redis-store --example chat_server -- \
//!     --listen 127.0.0.1:7701 --redis redis://127.0.0.1:6379/ --prefix chat
//! ```
//! Clients: `chat_client` and `chat_client_blocking` (see their docs).

#[path = "chat/mod.rs"]
mod chat;

use chat::server::{self, ServerOptions};

fn usage() -> ! {
    eprintln!("usage: chat_server [--listen ADDR] [--redis URL [--prefix P]]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:7700".to_string();
    let mut redis: Option<String> = None;
    let mut prefix = "chat".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--listen" => listen = value(),
            "--redis" => redis = Some(value()),
            "--prefix" => prefix = value(),
            _ => usage(),
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let options = ServerOptions {
        verbose: true,
        ..ServerOptions::default()
    };
    eprintln!("chat_server: listening on {}", listener.local_addr()?);
    // Nothing kicks connections here; the sender must outlive the server.
    let (_kick, kick) = tokio::sync::watch::channel(0);
    match redis {
        None => {
            eprintln!("chat_server: in-memory store (lost when the server stops)");
            let store = ackwire::store::MemoryStore::new();
            server::serve(listener, store, options, kick).await;
        }
        #[cfg(feature = "redis-store")]
        Some(url) => {
            let store = ackwire::store::RedisStore::connect(&url, &prefix)
                .await
                .map_err(std::io::Error::other)?;
            eprintln!("chat_server: Redis store at {url}, keys under {prefix}:");
            server::serve(listener, store, options, kick).await;
        }
        #[cfg(not(feature = "redis-store"))]
        Some(_) => {
            let _ = prefix;
            eprintln!("chat_server: built without Redis; use --features redis-store");
            std::process::exit(2)
        }
    }
    Ok(())
}
