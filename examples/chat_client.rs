//! A chat client on tokio. Reads `CONVERSATION TEXT` lines from stdin,
//! prints what arrives; keeps everything in `--db FILE` and resumes from it.
//!
//! ```sh
//! cargo run --example chat_client -- --id 1 --conv 1 --conv 2 \
//!     --server 127.0.0.1:7700 --db /tmp/chat-1.db
//! ```
//! Several `--server`s are tried in turn (a dropped connection moves on).

#[path = "chat/mod.rs"]
mod chat;

use chat::app::Command;
use chat::client::{self, ClientOptions};
use tokio::io::AsyncBufReadExt;

pub fn parse_args() -> ClientOptions {
    let usage = || -> ! {
        eprintln!("usage: chat_client --id N --conv C [--conv C..] --server ADDR [--server ADDR..] --db FILE");
        std::process::exit(2)
    };
    let mut options = ClientOptions {
        client: 0,
        conversations: Vec::new(),
        servers: Vec::new(),
        db: "chat.db".into(),
        reconnect_delay: std::time::Duration::from_millis(500),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--id" => options.client = v.parse().unwrap_or_else(|_| usage()),
            "--conv" => options
                .conversations
                .push(v.parse().unwrap_or_else(|_| usage())),
            "--server" => options.servers.push(v.parse().unwrap_or_else(|_| usage())),
            "--db" => options.db = v.into(),
            _ => usage(),
        }
    }
    if options.servers.is_empty() || options.conversations.is_empty() {
        usage()
    }
    options
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = parse_args();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Some((conv, text)) = line.split_once(' ') else {
                eprintln!("type: CONVERSATION TEXT");
                continue;
            };
            let Ok(conversation) = conv.parse() else {
                continue;
            };
            let cmd = Command {
                conversation,
                text: text.into(),
                accepted: None,
            };
            if tx.send(cmd).await.is_err() {
                return;
            }
        }
        // Stdin closed: keep running (and delivering) until killed.
        std::future::pending::<()>().await;
    });
    client::run(options, rx, |p| {
        for (conv, m) in &p.delivered {
            println!("{}", chat::app::show(*conv, m));
        }
        for (v, r) in &p.acked {
            println!("(sent #{v}: {r:?})");
        }
    })
    .await
}
