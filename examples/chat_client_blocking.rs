//! The chat client on blocking `std::net::TcpStream` (no async runtime);
//! same arguments, file and behaviour as `chat_client`.
//!
//! ```sh
//! cargo run --example chat_client_blocking -- --id 2 --conv 1 \
//!     --server 127.0.0.1:7700 --db /tmp/chat-2.db
//! ```

#[path = "chat/mod.rs"]
mod chat;

use chat::app::Command;
use chat::client::ClientOptions;
use std::io::BufRead;
use std::sync::atomic::AtomicBool;

fn parse_args() -> ClientOptions {
    let usage = || -> ! {
        eprintln!("usage: chat_client_blocking --id N --conv C [--conv C..] --server ADDR [--server ADDR..] --db FILE");
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

fn main() -> std::io::Result<()> {
    let options = parse_args();
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
        for (conv, m) in &p.delivered {
            println!("{}", chat::app::show(*conv, m));
        }
        for (v, r) in &p.acked {
            println!("(sent #{v}: {r:?})");
        }
    })
}
