//! The same client on `std::net::TcpStream`, no async runtime: the socket's
//! read timeout is the timer.

use super::app::{ClientApp, Command, Progress};
use super::client::{ClientOptions, ServerAddr};
use super::wire::{self, Clock, HelloReply, Status};
use ackwire::packet_len;
use bytes::{Bytes, BytesMut};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant as StdInstant};

/// Longest wait for input before looking at `commands` and `kill` again.
const TICK: Duration = Duration::from_millis(20);

/// Runs until `commands` disconnects, `kill` is set (a crash: return at
/// once, nothing flushed) or the local database fails.
pub fn run(
    options: ClientOptions,
    commands: Receiver<Command>,
    kill: &AtomicBool,
    shown: impl Fn(Progress),
) -> io::Result<()> {
    let clock = Clock::new();
    let mut app = ClientApp::open(
        options.client,
        options.token,
        options.conversations.clone(),
        &options.db,
    )?;
    for attempt in 0.. {
        // Raw TCP only (WebSocket servers are for the tokio client).
        let ServerAddr::Tcp(addr) = options.servers[attempt % options.servers.len()] else {
            std::thread::sleep(options.reconnect_delay);
            if kill.load(Ordering::Relaxed) {
                return Ok(());
            }
            continue;
        };
        match session(&clock, &mut app, addr, &commands, kill, &shown) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(e),
        }
        app.disconnect();
        std::thread::sleep(options.reconnect_delay);
    }
    unreachable!()
}

/// One connection; `Ok(true)` when the client should stop.
fn session(
    clock: &Clock,
    app: &mut ClientApp,
    addr: std::net::SocketAddr,
    commands: &Receiver<Command>,
    kill: &AtomicBool,
    shown: &impl Fn(Progress),
) -> io::Result<bool> {
    let Ok(mut socket) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return Ok(kill.load(Ordering::Relaxed));
    };
    let _ = socket.set_nodelay(true);
    if socket.write_all(&app.hello().encode()).is_err() {
        return Ok(false);
    }
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reply = [0u8; wire::HELLO_REPLY_LEN];
    let reply = match socket.read_exact(&mut reply) {
        Ok(()) => HelloReply::decode(&reply),
        Err(_) => None,
    };
    let Some(reply) = reply.filter(|r| r.status == Status::Ok) else {
        if let Some(r) = reply {
            shown(note(format!(
                "{addr} refused the connection: {:?}",
                r.status
            )));
            std::thread::sleep(Duration::from_secs(1));
        }
        return Ok(false);
    };
    shown(note(format!("connected to {addr}")));
    let keepalive = reply.keepalive.max(Duration::from_millis(100));
    let dead_after = keepalive * 3;
    let (mut last_heard, mut last_sent) = (StdInstant::now(), StdInstant::now());
    let max = wire::MAX_PACKET;
    let mut inbuf = BytesMut::with_capacity(max);
    let mut chunk = vec![0u8; max];
    app.connect(clock.now());
    loop {
        if kill.load(Ordering::Relaxed) {
            return Ok(true);
        }
        loop {
            match commands.try_recv() {
                Ok(cmd) => app.submit(clock.now(), cmd)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(true),
            }
        }
        let now = clock.now();
        let conn = app.conn().expect("connected");
        if conn.poll_timeout().is_some_and(|d| d <= now) {
            conn.handle_timeout(now);
            debug_assert!(conn.poll_timeout().is_none_or(|d| d > now));
        }
        let progress = app.process(now)?;
        let dead = progress.dead;
        shown(progress);
        if dead {
            return Ok(false);
        }
        let conn = app.conn().expect("connected");
        if last_sent.elapsed() >= keepalive {
            let _ = conn.send(clock.now(), wire::keepalive());
        }
        if last_heard.elapsed() >= dead_after {
            shown(note(format!("connection to {addr} lost: no keep-alive")));
            return Ok(false);
        }
        let now = clock.now();
        while let Some(packet) = conn.poll_transmit(now) {
            if socket.write_all(&packet).is_err() {
                return Ok(false);
            }
            last_sent = StdInstant::now();
        }
        // Wait for input until the next deadline, at most TICK; a zero
        // timeout is an error for set_read_timeout, so at least 1 ms.
        let wait = conn
            .poll_timeout()
            .map_or(TICK, |d| d.saturating_duration_since(clock.now()))
            .clamp(Duration::from_millis(1), TICK);
        socket.set_read_timeout(Some(wait))?;
        match socket.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                inbuf.extend_from_slice(&chunk[..n]);
                last_heard = StdInstant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Ok(false),
        }
        // Every complete packet in the buffer, as PROTOCOL.md §2 frames them.
        loop {
            let total = match packet_len(&inbuf, max) {
                Ok(Some(total)) if inbuf.len() >= total => total,
                Ok(_) => break,
                Err(_) => return Ok(false), // no resync on a stream: hang up
            };
            let packet: Bytes = inbuf.split_to(total).freeze();
            if conn.handle_input(clock.now(), packet).is_err() {
                return Ok(false);
            }
        }
    }
}

fn note(line: String) -> Progress {
    Progress {
        notes: vec![line],
        ..Progress::default()
    }
}
