//! The tokio client: one task, reconnecting forever, resuming from its file.

use super::app::{ClientApp, Command, Progress};
use super::wire::{Clock, PacketCodec};
use futures_util::{SinkExt, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};

#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub client: u64,
    pub conversations: Vec<u64>,
    /// Tried in turn: a failed or dropped connection moves to the next.
    pub servers: Vec<SocketAddr>,
    pub db: PathBuf,
    pub reconnect_delay: Duration,
}

/// Runs the client until `commands` closes or an I/O error on its own
/// file. `shown` gets what the user would see.
pub async fn run(
    options: ClientOptions,
    mut commands: mpsc::Receiver<Command>,
    shown: impl Fn(Progress) + Send,
) -> io::Result<()> {
    let clock = Clock::new();
    let mut app = ClientApp::open(options.client, options.conversations.clone(), &options.db)?;
    for attempt in 0.. {
        let addr = options.servers[attempt % options.servers.len()];
        match session(&clock, &mut app, addr, &mut commands, &shown).await {
            Ok(Ended::CommandsClosed) => return Ok(()),
            Ok(Ended::Disconnected) => {}
            // Only the local database failing is fatal.
            Err(Fatal(e)) => return Err(e),
        }
        app.disconnect();
        sleep(options.reconnect_delay).await;
    }
    unreachable!()
}

enum Ended {
    Disconnected,
    CommandsClosed,
}

struct Fatal(io::Error);

async fn session(
    clock: &Clock,
    app: &mut ClientApp,
    addr: SocketAddr,
    commands: &mut mpsc::Receiver<Command>,
    shown: &impl Fn(Progress),
) -> Result<Ended, Fatal> {
    let Ok(Ok(mut socket)) = timeout(Duration::from_secs(2), TcpStream::connect(addr)).await else {
        return Ok(Ended::Disconnected);
    };
    let _ = socket.set_nodelay(true);
    if socket.write_all(&app.hello.encode()).await.is_err() {
        return Ok(Ended::Disconnected);
    }
    let max = super::wire::config().max_packet_size;
    let (r, w) = socket.into_split();
    let mut reader = FramedRead::new(r, PacketCodec::new(max));
    let mut writer = FramedWrite::new(w, PacketCodec::new(max));
    app.connect(clock.now());
    loop {
        let now = clock.now();
        let conn = app.conn().expect("connected");
        if conn.poll_timeout().is_some_and(|d| d <= now) {
            conn.handle_timeout(now);
            debug_assert!(conn.poll_timeout().is_none_or(|d| d > now));
        }
        let progress = app.process(now).map_err(Fatal)?;
        let dead = progress.dead;
        shown(progress);
        if dead {
            return Ok(Ended::Disconnected);
        }
        let conn = app.conn().expect("connected");
        let now = clock.now();
        while let Some(packet) = conn.poll_transmit(now) {
            if writer.feed(packet).await.is_err() {
                return Ok(Ended::Disconnected);
            }
        }
        if writer.flush().await.is_err() {
            return Ok(Ended::Disconnected);
        }
        let deadline = conn.poll_timeout().map(|d| clock.to_tokio(d));
        tokio::select! {
            packet = reader.next() => match packet {
                Some(Ok(p)) => {
                    if conn.handle_input(clock.now(), p).is_err() {
                        return Ok(Ended::Disconnected);
                    }
                }
                _ => return Ok(Ended::Disconnected),
            },
            _ = async { sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {}
            cmd = commands.recv() => match cmd {
                Some(cmd) => app.submit(clock.now(), cmd).map_err(Fatal)?,
                None => return Ok(Ended::CommandsClosed),
            },
        }
    }
}
