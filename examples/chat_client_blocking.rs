//! The chat client on blocking `std::net::TcpStream` (no async runtime);
//! same arguments, file and behaviour as `chat_client` (raw TCP servers
//! only).
//!
//! ```sh
//! cargo run --example chat_client_blocking -- --id 2 --conv 1 \
//!     --server 127.0.0.1:7700 --db /tmp/chat-2.db
//! ```

#[path = "chat/mod.rs"]
mod chat;

use chat::app::Command;
use std::io::BufRead;
use std::sync::atomic::AtomicBool;

fn main() -> std::io::Result<()> {
    let options = chat::client::parse_args("chat_client_blocking");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
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
            if tx.send(cmd).is_err() {
                return;
            }
        }
        // Stdin closed: keep running (and delivering) until killed.
        loop {
            std::thread::park();
        }
    });
    let never = AtomicBool::new(false);
    chat::blocking::run(options, rx, &never, |p| {
        for line in chat::app::lines(&p) {
            println!("{line}");
        }
    })
}
