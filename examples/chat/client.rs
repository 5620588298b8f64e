//! The tokio client: one task, reconnecting forever (to each server in
//! turn, over raw TCP or WebSocket), resuming from its file.

use super::app::{ClientApp, Command, Progress};
use super::wire::{
    self, ws_binary, ws_packets, Clock, HelloReply, PacketCodec, PacketSink, PacketStream, Status,
};
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant as StdInstant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout};
use tokio_util::codec::FramedRead;

/// A server and how to reach it: `127.0.0.1:7700` (raw TCP) or
/// `ws://127.0.0.1:7710/` (WebSocket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerAddr {
    Tcp(SocketAddr),
    Ws(SocketAddr),
}

impl FromStr for ServerAddr {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<ServerAddr, Self::Err> {
        match s.strip_prefix("ws://") {
            Some(rest) => Ok(ServerAddr::Ws(rest.trim_end_matches('/').parse()?)),
            None => Ok(ServerAddr::Tcp(s.parse()?)),
        }
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp(a) => write!(f, "{a}"),
            ServerAddr::Ws(a) => write!(f, "ws://{a}/"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub client: u64,
    /// The client's token (see `auth`).
    pub token: [u8; 32],
    pub conversations: Vec<u64>,
    /// Tried in turn: a failed or dropped connection moves to the next.
    pub servers: Vec<ServerAddr>,
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
    let mut app = ClientApp::open(
        options.client,
        options.token,
        options.conversations.clone(),
        &options.db,
    )?;
    for attempt in 0.. {
        let addr = options.servers[attempt % options.servers.len()];
        let mut delay = options.reconnect_delay;
        match session(&clock, &mut app, addr, &mut commands, &shown).await {
            Ok(Ended::CommandsClosed) => return Ok(()),
            Ok(Ended::Disconnected) => {}
            Ok(Ended::Refused(status)) => {
                // A busy server is not hammered; a bad token will not heal,
                // but another server may have another secret: go on slowly.
                delay = delay.max(Duration::from_secs(1));
                shown(note(format!("{addr} refused the connection: {status:?}")));
            }
            // Only the local database failing is fatal.
            Err(Fatal(e)) => return Err(e),
        }
        app.disconnect();
        sleep(delay).await;
    }
    unreachable!()
}

fn note(line: String) -> Progress {
    Progress {
        notes: vec![line],
        ..Progress::default()
    }
}

enum Ended {
    Disconnected,
    CommandsClosed,
    Refused(Status),
}

struct Fatal(io::Error);

/// Connects, says hello, reads the reply; the packet stream and sink.
pub async fn open(
    addr: ServerAddr,
    hello: &[u8],
) -> io::Result<(PacketStream, PacketSink, HelloReply)> {
    let connect = |a| async move {
        let socket = timeout(Duration::from_secs(2), TcpStream::connect(a))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let _ = socket.set_nodelay(true);
        Ok::<_, io::Error>(socket)
    };
    let bad_reply = || io::Error::new(io::ErrorKind::InvalidData, "bad hello reply");
    let handshake = async {
        match addr {
            ServerAddr::Tcp(a) => {
                let mut socket = connect(a).await?;
                socket.write_all(hello).await?;
                let mut b = [0u8; wire::HELLO_REPLY_LEN];
                socket.read_exact(&mut b).await?;
                let reply = HelloReply::decode(&b).ok_or_else(bad_reply)?;
                let (r, w) = socket.into_split();
                let reader: PacketStream = Box::pin(FramedRead::with_capacity(
                    r,
                    PacketCodec::new(wire::MAX_PACKET),
                    256,
                ));
                let writer: PacketSink = Box::pin(wire::small_writer(w));
                Ok((reader, writer, reply))
            }
            ServerAddr::Ws(a) => {
                let socket = connect(a).await?;
                let (mut ws, _) = tokio_tungstenite::client_async_with_config(
                    format!("ws://{a}/"),
                    socket,
                    Some(wire::ws_config()),
                )
                .await
                .map_err(io::Error::other)?;
                ws.send(ws_binary(bytes::Bytes::copy_from_slice(hello)))
                    .await
                    .map_err(io::Error::other)?;
                let (reader, writer) = ws_packets(ws);
                let mut reader = reader;
                let first = reader.next().await.ok_or_else(bad_reply)??;
                let reply = HelloReply::decode(&first).ok_or_else(bad_reply)?;
                Ok((reader, writer, reply))
            }
        }
    };
    timeout(Duration::from_secs(5), handshake)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

async fn session(
    clock: &Clock,
    app: &mut ClientApp,
    addr: ServerAddr,
    commands: &mut mpsc::Receiver<Command>,
    shown: &impl Fn(Progress),
) -> Result<Ended, Fatal> {
    let (mut reader, mut writer, reply) = match open(addr, &app.hello().encode()).await {
        Ok(x) => x,
        Err(_) => return Ok(Ended::Disconnected),
    };
    if reply.status != Status::Ok {
        return Ok(Ended::Refused(reply.status));
    }
    shown(note(format!("connected to {addr}")));
    // Keep-alives as the server asks; silence for three of them is a dead
    // server (or path): move on.
    let keepalive = reply.keepalive.max(Duration::from_millis(100));
    let dead_after = keepalive * 3;
    let (mut last_heard, mut last_sent) = (StdInstant::now(), StdInstant::now());
    app.connect(clock.now());
    let lost = |why: &str| note(format!("connection to {addr} lost: {why}"));
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
            shown(lost("the server stopped answering"));
            return Ok(Ended::Disconnected);
        }
        let conn = app.conn().expect("connected");
        if last_sent.elapsed() >= keepalive {
            let _ = conn.send(clock.now(), wire::keepalive());
        }
        let now = clock.now();
        while let Some(packet) = conn.poll_transmit(now) {
            if writer.feed(packet).await.is_err() {
                shown(lost("write failed"));
                return Ok(Ended::Disconnected);
            }
            last_sent = StdInstant::now();
        }
        if writer.flush().await.is_err() {
            shown(lost("write failed"));
            return Ok(Ended::Disconnected);
        }
        let deadline = conn
            .poll_timeout()
            .map(|d| clock.to_tokio(d))
            .into_iter()
            .chain([
                tokio::time::Instant::from_std(last_sent + keepalive),
                tokio::time::Instant::from_std(last_heard + dead_after),
            ])
            .min()
            .expect("two deadlines at least");
        tokio::select! {
            packet = reader.next() => match packet {
                Some(Ok(p)) => {
                    if conn.handle_input(clock.now(), p).is_err() {
                        shown(lost("bad packet"));
                        return Ok(Ended::Disconnected);
                    }
                    last_heard = StdInstant::now();
                }
                _ => {
                    shown(lost("closed by the server"));
                    return Ok(Ended::Disconnected);
                }
            },
            _ = sleep_until(deadline) => {
                if last_heard.elapsed() >= dead_after {
                    shown(lost("no keep-alive from the server"));
                    return Ok(Ended::Disconnected);
                }
            }
            cmd = commands.recv() => match cmd {
                Some(cmd) => app.submit(clock.now(), cmd).map_err(Fatal)?,
                None => return Ok(Ended::CommandsClosed),
            },
        }
    }
}

/// The command line both client examples share.
pub fn parse_args(name: &str) -> ClientOptions {
    let usage = || -> ! {
        eprintln!("usage: {name} --id N --conv C [--conv C..] --server ADDR|ws://ADDR/ [--server ..] --db FILE [--token HEX]");
        std::process::exit(2)
    };
    let mut options = ClientOptions {
        client: 0,
        token: [0; 32],
        conversations: Vec::new(),
        servers: Vec::new(),
        db: "chat.db".into(),
        reconnect_delay: std::time::Duration::from_millis(500),
    };
    let mut token = None;
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
            "--token" => token = Some(super::wire::unhex(&v).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if options.servers.is_empty() || options.conversations.is_empty() {
        usage()
    }
    options.token = match token {
        Some(t) => t.try_into().unwrap_or_else(|_| usage()),
        None => {
            match std::env::var("CHAT_SECRET") {
                Ok(s) => super::auth::Secret::new(s.into_bytes()).token(options.client),
                Err(_) => {
                    eprintln!("{name}: give --token HEX (chat_server --print-token ID) or set CHAT_SECRET");
                    std::process::exit(2)
                }
            }
        }
    };
    options
}
