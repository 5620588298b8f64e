//! A chat client on tokio. Reads `CONVERSATION TEXT` lines from stdin,
//! prints one line per event; keeps everything in `--db FILE` and resumes
//! from it.
//!
//! ```sh
//! cargo run --example chat_client -- --id 1 --conv 1 --conv 2 \
//!     --server 127.0.0.1:7700 --server ws://127.0.0.1:7711/ --db /tmp/chat-1.db
//! ```
//! Several `--server`s are tried in turn (a dropped connection moves on);
//! `ws://` ones are reached by WebSocket. The token is `--token HEX`
//! (`chat_server --print-token ID`), or derived from `CHAT_SECRET` when
//! that is set (for trying it out on one machine).

#[path = "chat/mod.rs"]
mod chat;

use chat::app::Command;
use chat::client;
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = client::parse_args("chat_client");
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
        for line in chat::app::lines(&p) {
            println!("{line}");
        }
    })
    .await
}
