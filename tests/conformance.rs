//! The conformance suite (`conformance/`, format in its README), replayed
//! against the crate so that the files can not drift from the code.
//!
//! - `decode_cases_replay`: every case of `conformance/decode/*.txt`: the
//!   body decodes to exactly the frames listed (or the exact error), and a
//!   fresh `Receiver` and `Sender` accept or reject the sealed packet with
//!   exactly the error listed.
//! - `traces_replay`: every trace of `conformance/traces/*.txt`, one
//!   endpoint each: each command's response (result, packets out byte for
//!   byte, events, next deadline) is exactly the one recorded.
//! - `probe_speaks_the_line_protocol`: `examples/conformance_probe.rs` as a
//!   subprocess replays a trace over stdin/stdout.
//! - `generate` (ignored): writes the files from the scenarios below,
//!   driving a crate `Sender` and `Receiver` pair. Run it after a change
//!   that is meant to change behaviour, then review the diff:
//!   `cargo test --test conformance -- --ignored generate`.
//!
//! The decode cases need the crate's own frame decoder, which is private:
//! like `benches/internals.rs`, this file compiles those source files into
//! itself (`#[path]` modules), so their unit tests run here once more.

// The library passes these lints where its types are exported; compiled as
// private modules here they would fire.
#![allow(dead_code, unused_imports, clippy::enum_variant_names)]

extern crate alloc;

#[path = "../src/error.rs"]
mod error;
#[path = "../src/frame.rs"]
mod frame;
#[path = "../src/message.rs"]
mod message;
#[path = "../src/packet.rs"]
mod packet;
#[path = "../src/sync.rs"]
mod sync;
#[path = "../src/varint.rs"]
mod varint;

#[path = "../conformance/driver.rs"]
mod driver;

use bytes::{BufMut, Bytes, BytesMut};
use driver::{hex, unhex, Driver};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The connection id of every decode case and trace.
const CONN: u64 = 0x0102_0304_0506_0708;

fn suite_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(sub)
}

fn files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(suite_dir(sub))
        .unwrap_or_else(|e| panic!("conformance/{sub}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- decode

fn ranges_text(ranges: impl Iterator<Item = (u64, u64)>) -> String {
    let v: Vec<String> = ranges.map(|(s, e)| format!("{s}-{e}")).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

fn sync_range_text(r: sync::SyncRange) -> String {
    match r {
        sync::SyncRange::After(v) => format!("mode=after anchor={}", v.0),
        sync::SyncRange::Latest => "mode=latest anchor=0".into(),
        sync::SyncRange::Before(v) => format!("mode=before anchor={}", v.0),
    }
}

/// A decoded frame in the suite's text form (conformance/README.md).
fn frame_text(f: &frame::Frame) -> String {
    use frame::Frame;
    match f {
        Frame::Data { sid, msg, history } => {
            let mut flags = 0u8;
            let mut package = String::new();
            if let Some(p) = msg.package {
                flags |= 0x01;
                package = format!(" package={}/{}/{}/{}", p.id, p.index, p.count, p.last.0);
            }
            if *history {
                flags |= 0x02;
            }
            if msg.wants_receipt {
                flags |= 0x04;
            }
            if msg.qos == message::Qos::AtLeastOnce {
                flags |= 0x08;
            }
            format!(
                "DATA sid={sid} stream={} prev={} version={} flags={flags:02x}{package} payload={}",
                msg.stream.0,
                msg.prev.0,
                msg.version.0,
                hex(&msg.payload)
            )
        }
        Frame::Ack(a) => format!(
            "ACK delay={} received_floor={} received={} committed_floor={} committed={} room={}",
            a.ack_delay_us,
            a.received.floor,
            ranges_text(a.received.ranges()),
            a.committed.floor,
            ranges_text(a.committed.ranges()),
            a.room
        ),
        Frame::Floor { resend, settled } => format!("FLOOR resend={resend} settled={settled}"),
        Frame::Ping => "PING".into(),
        Frame::Sync(r) => format!(
            "SYNC stream={} {} limit={}",
            r.stream.0,
            sync_range_text(r.range),
            r.limit
        ),
        Frame::SyncEnd(e) => {
            let head = format!(
                "stream={} {} first_prev={} through={} count={} more={}",
                e.stream.0,
                sync_range_text(e.range),
                e.first_prev.0,
                e.through.0,
                e.count,
                u8::from(e.more)
            );
            match e.trimmed {
                Some(t) => format!("TRIMMED {head} trimmed={}", t.0),
                None => format!("SYNC_END {head}"),
            }
        }
        Frame::Receipt { sid, receipt } => format!("RECEIPT sid={sid} receipt={}", hex(receipt)),
        Frame::Datagram { seq, msg } => format!(
            "DATAGRAM seq={seq} stream={} version={} payload={}",
            msg.stream.0,
            msg.version.0,
            hex(&msg.payload)
        ),
        Frame::Skipped(s) => format!("SKIPPED ranges={}", ranges_text(s.ranges())),
    }
}

/// One decode case's input.
struct DecodeCase {
    name: String,
    /// A frame body (sealed into a packet of [`CONN`]) or a whole packet.
    body: Option<Vec<u8>>,
    packet: Option<Vec<u8>>,
    max_packet_size: usize,
}

/// What the crate makes of a decode case: the expectation lines.
fn decode_expect(c: &DecodeCase) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(body) = &c.body {
        let b = Bytes::from(body.clone());
        let mut pos = 0;
        let mut err = None;
        if b.is_empty() {
            err = Some(error::CodecError::Truncated);
        }
        while err.is_none() && pos < b.len() {
            match frame::decode(&b, &mut pos) {
                Ok(f) => out.push(format!("frame {}", frame_text(&f))),
                Err(e) => err = Some(e),
            }
        }
        out.push(match err {
            None => "decode ok".into(),
            Some(e) => format!("decode error {e:?}"),
        });
    }
    let packet = match (&c.body, &c.packet) {
        (_, Some(p)) => p.clone(),
        // Sealed by the fuzz crate's codec, written apart from the library.
        (Some(b), None) => ackwire_fuzz::seal_for(CONN, b).to_vec(),
        (None, None) => panic!("{}: neither body nor packet", c.name),
    };
    out.push(match ackwire::packet_len(&packet, c.max_packet_size) {
        Ok(Some(n)) => format!("packet_len {n}"),
        Ok(None) => "packet_len need_more".into(),
        Err(e) => format!("packet_len error {e:?}"),
    });
    let config = ackwire::Config {
        max_packet_size: c.max_packet_size,
        ..ackwire::Config::default()
    };
    let id = ackwire::ConnectionId(CONN);
    let now = ackwire::Instant::ZERO;
    let r =
        ackwire::Receiver::new(config.clone(), id).handle_input(now, Bytes::from(packet.clone()));
    let s = ackwire::Sender::new(config, id).handle_input(now, Bytes::from(packet));
    for (who, res) in [("receiver", r), ("sender", s)] {
        out.push(match res {
            Ok(()) => format!("{who} ok"),
            Err(e) => format!("{who} error {e:?}"),
        });
    }
    out
}

/// Parses a decode file into its cases and their expectation lines.
fn parse_decode_file(text: &str) -> Vec<(DecodeCase, Vec<String>)> {
    let mut cases: Vec<(DecodeCase, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(exp) = line.strip_prefix("> ") {
            cases
                .last_mut()
                .expect("expectation before case")
                .1
                .push(exp.into());
            continue;
        }
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "case" => cases.push((
                DecodeCase {
                    name: rest.into(),
                    body: None,
                    packet: None,
                    max_packet_size: 16384,
                },
                Vec::new(),
            )),
            "body" => cases.last_mut().unwrap().0.body = Some(unhex(rest).unwrap()),
            "packet" => cases.last_mut().unwrap().0.packet = Some(unhex(rest).unwrap()),
            "max_packet_size" => {
                cases.last_mut().unwrap().0.max_packet_size = rest.parse().unwrap()
            }
            other => panic!("unknown decode line {other:?}"),
        }
    }
    cases
}

#[test]
fn decode_cases_replay() {
    let mut n = 0;
    for path in files("decode") {
        let text = std::fs::read_to_string(&path).unwrap();
        for (case, expected) in parse_decode_file(&text) {
            let got = decode_expect(&case);
            assert_eq!(got, expected, "{}: case {}", path.display(), case.name);
            n += 1;
        }
    }
    assert!(n >= 60, "only {n} decode cases");
}

// ---------------------------------------------------------------- traces

/// Replays one trace file; returns the number of commands.
fn replay(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let mut d = Driver::new();
    let mut pending: Option<(usize, String, Vec<String>)> = None;
    let mut commands = 0;
    let check = |p: Option<(usize, String, Vec<String>)>, d: &mut Driver| {
        if let Some((line_no, cmd, expected)) = p {
            let got = d.run(&cmd);
            assert_eq!(
                got,
                expected,
                "{}:{}: `{cmd}` responded differently",
                path.display(),
                line_no
            );
        }
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(exp) = line.strip_prefix("> ") {
            pending
                .as_mut()
                .expect("expectation before command")
                .2
                .push(exp.into());
        } else {
            check(pending.take(), &mut d);
            pending = Some((i + 1, line.to_string(), Vec::new()));
            commands += 1;
        }
    }
    check(pending.take(), &mut d);
    commands
}

#[test]
fn traces_replay() {
    let paths = files("traces");
    assert!(paths.len() >= 30, "only {} traces", paths.len());
    for path in paths {
        assert!(replay(&path) > 0, "{}: empty", path.display());
    }
}

#[test]
fn probe_speaks_the_line_protocol() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    // `cargo test` builds the examples beside the tests; a run of this test
    // alone (`--test conformance`) builds the probe here.
    let mut bin = std::env::current_exe().unwrap();
    // .../debug/deps/conformance-xxxx -> .../debug/examples/conformance_probe
    bin.pop();
    bin.pop();
    bin.push("examples");
    bin.push(format!("conformance_probe{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "--example", "conformance_probe"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "building the probe failed");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    let path = suite_dir("traces").join("loss_rto.sender.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut expected: Vec<Vec<String>> = Vec::new();
    let mut commands = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_prefix("> ") {
            Some(e) => expected.last_mut().unwrap().push(e.to_string()),
            None => {
                commands.push(line.to_string());
                expected.push(Vec::new());
            }
        }
    }
    for (cmd, exp) in commands.iter().zip(&expected) {
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let mut got = Vec::new();
        loop {
            let mut l = String::new();
            assert!(stdout.read_line(&mut l).unwrap() > 0, "probe ended early");
            let l = l.trim_end().to_string();
            let last = l.starts_with("deadline ");
            got.push(l);
            if last {
                break;
            }
        }
        assert_eq!(&got, exp, "probe: `{cmd}`");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

// ------------------------------------------------------------- generator

/// Writes a packet's frames as comments (`#   FRAME ...`) for readers.
fn annotate(log: &mut String, packet_hex: &str) {
    let p = unhex(packet_hex).unwrap();
    let body = Bytes::from(p[15..p.len() - 4].to_vec());
    let mut pos = 0;
    while pos < body.len() {
        match frame::decode(&body, &mut pos) {
            Ok(f) => {
                let _ = writeln!(log, "#   {}", frame_text(&f));
            }
            Err(e) => {
                let _ = writeln!(log, "#   error {e:?}");
                break;
            }
        }
    }
}

/// One endpoint of a scenario and its transcript.
struct Side {
    driver: Driver,
    log: String,
    /// Packets written so far (their index decides loss).
    written: usize,
}

impl Side {
    fn new(header: &str) -> Side {
        Side {
            driver: Driver::new(),
            log: header.to_string(),
            written: 0,
        }
    }

    fn exec(&mut self, cmd: &str) -> Vec<String> {
        let out = self.driver.run(cmd);
        self.log.push_str(cmd);
        self.log.push('\n');
        if let Some(h) = cmd
            .split_whitespace()
            .nth(2)
            .filter(|_| cmd.starts_with("in "))
        {
            annotate(&mut self.log, h);
        }
        for l in &out {
            assert!(!l.starts_with("bad "), "scenario command `{cmd}`: {l}");
            let _ = writeln!(self.log, "> {l}");
            if let Some(h) = l.strip_prefix("out ") {
                annotate(&mut self.log, h);
            }
        }
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// Sender to receiver.
    Down,
    /// Receiver to sender.
    Up,
}

/// A scripted sender/receiver pair on a virtual clock, recording a trace
/// of each endpoint.
struct Pair {
    s: Side,
    r: Side,
    now: u64,
    latency: u64,
    /// Packets in flight: arrival time, direction, bytes.
    wire: Vec<(u64, Dir, Vec<u8>)>,
    /// Indices of packets each side writes that the link loses.
    drop_down: HashSet<usize>,
    drop_up: HashSet<usize>,
    /// Lose every packet in this direction while set.
    cut_down: bool,
    cut_up: bool,
    /// The receiving app commits each delivery at once.
    auto_commit: bool,
    /// The sending app answers each sync request from `store`.
    auto_sync: bool,
    /// The sending side's stored messages, per stream, in chain order.
    store: BTreeMap<u64, Vec<String>>,
}

/// A receipt the receiving app gives for `version`.
fn receipt_for(version: u64) -> String {
    format!("{:04x}", 0xa000 + (version & 0xfff))
}

fn kv(text: &str, key: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

impl Pair {
    fn new(title: &str, description: &str, config: &str) -> Pair {
        let header = |role: &str| {
            let mut h = format!("# {title}: the {role}'s trace.\n");
            for l in description.lines() {
                let _ = writeln!(h, "# {}", l.trim());
            }
            h.push_str("# Generated by `cargo test --test conformance -- --ignored generate`.\n");
            h
        };
        let mut p = Pair {
            s: Side::new(&header("sender")),
            r: Side::new(&header("receiver")),
            now: 0,
            latency: 10_000,
            wire: Vec::new(),
            drop_down: HashSet::new(),
            drop_up: HashSet::new(),
            cut_down: false,
            cut_up: false,
            auto_commit: true,
            auto_sync: true,
            store: BTreeMap::new(),
        };
        p.s.exec(format!("sender 0x{CONN:016x} {config}").trim_end());
        p.r.exec(format!("receiver 0x{CONN:016x} {config}").trim_end());
        p
    }

    /// Stores a message on the sending side (for sync answers).
    fn stored(&mut self, stream: u64, msg: &str) {
        self.store.entry(stream).or_default().push(msg.to_string());
    }

    fn on_sender(&mut self, cmd: &str) {
        let out = self.s.exec(cmd);
        self.react(Dir::Down, out);
    }

    fn on_receiver(&mut self, cmd: &str) {
        let out = self.r.exec(cmd);
        self.react(Dir::Up, out);
    }

    /// A sender command at the current time: `verb args` becomes
    /// `verb <now> args`.
    fn s(&mut self, cmd: &str) {
        let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let line = format!("{verb} {} {rest}", self.now);
        self.on_sender(line.trim_end());
    }

    fn r(&mut self, cmd: &str) {
        let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let line = format!("{verb} {} {rest}", self.now);
        self.on_receiver(line.trim_end());
    }

    fn react(&mut self, dir: Dir, out: Vec<String>) {
        for l in out {
            if let Some(h) = l.strip_prefix("out ") {
                let side = if dir == Dir::Down {
                    &mut self.s
                } else {
                    &mut self.r
                };
                let n = side.written;
                side.written += 1;
                let lost = match dir {
                    Dir::Down => self.cut_down || self.drop_down.contains(&n),
                    Dir::Up => self.cut_up || self.drop_up.contains(&n),
                };
                if !lost {
                    self.wire
                        .push((self.now + self.latency, dir, unhex(h).unwrap()));
                }
            } else if let Some(e) = l.strip_prefix("event ") {
                self.app(dir, e);
            }
        }
    }

    /// What the scripted apps do with an event.
    fn app(&mut self, dir: Dir, e: &str) {
        let now = self.now;
        if dir == Dir::Up && self.auto_commit && e.starts_with("deliver ") {
            let (stream, version) = (kv(e, "stream").unwrap(), kv(e, "version").unwrap());
            if e.contains("receipt=1") {
                let r = receipt_for(version);
                self.on_receiver(&format!("commit {now} {stream} {version} {r}"));
            } else {
                self.on_receiver(&format!("commit {now} {stream} {version}"));
            }
        }
        if dir == Dir::Up && self.auto_commit && e.starts_with("receipt_wanted ") {
            let (stream, version) = (kv(e, "stream").unwrap(), kv(e, "version").unwrap());
            let r = receipt_for(version);
            self.on_receiver(&format!("provide_receipt {now} {stream} {version} {r}"));
        }
        if dir == Dir::Down && self.auto_sync && e.starts_with("sync_requested ") {
            let stream = kv(e, "stream").unwrap();
            let anchor = kv(e, "anchor").unwrap();
            let limit = kv(e, "limit").unwrap() as usize;
            let mode = e
                .split_whitespace()
                .find_map(|w| w.strip_prefix("mode="))
                .unwrap()
                .to_string();
            let all = self.store.get(&stream).cloned().unwrap_or_default();
            let version = |m: &String| kv(m, "version").unwrap();
            let (page, more): (Vec<String>, bool) = match mode.as_str() {
                "after" => {
                    let rest: Vec<String> = all
                        .iter()
                        .filter(|m| version(m) > anchor)
                        .cloned()
                        .collect();
                    (
                        rest.iter().take(limit).cloned().collect(),
                        rest.len() > limit,
                    )
                }
                "latest" => {
                    let skip = all.len().saturating_sub(limit);
                    (all[skip..].to_vec(), skip > 0)
                }
                _ => {
                    let older: Vec<String> = all
                        .iter()
                        .filter(|m| version(m) < anchor)
                        .cloned()
                        .collect();
                    let skip = older.len().saturating_sub(limit);
                    (older[skip..].to_vec(), skip > 0)
                }
            };
            let mut line = format!(
                "answer_sync {now} stream={stream} mode={mode} anchor={anchor} limit={limit} more={}",
                u8::from(more)
            );
            for m in page {
                let _ = write!(line, " | {m}");
            }
            self.on_sender(&line);
        }
    }

    /// Runs the link and both endpoints' timers up to `until`.
    fn run_until(&mut self, until: u64) {
        for _ in 0..100_000 {
            let wire_next = self.wire.iter().map(|w| w.0).min();
            let s_next = self.s.driver.deadline().map(|t| t.as_micros());
            let r_next = self.r.driver.deadline().map(|t| t.as_micros());
            let Some(next) = [wire_next, s_next, r_next].into_iter().flatten().min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            // Arrivals first, in the order they were sent.
            let (due, rest): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = rest;
            for (_, dir, bytes) in due {
                match dir {
                    Dir::Down => self.on_receiver(&format!("in {now} {}", hex(&bytes))),
                    Dir::Up => self.on_sender(&format!("in {now} {}", hex(&bytes))),
                }
            }
            if self
                .s
                .driver
                .deadline()
                .is_some_and(|t| t.as_micros() <= now)
            {
                self.on_sender(&format!("timeout {now}"));
            }
            if self
                .r
                .driver
                .deadline()
                .is_some_and(|t| t.as_micros() <= now)
            {
                self.on_receiver(&format!("timeout {now}"));
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `us` more microseconds.
    fn run_for(&mut self, us: u64) {
        let until = self.now + us;
        self.run_until(until);
    }

    fn write(self, name: &str, out: &mut Vec<(String, String)>) {
        out.push((format!("{name}.sender.txt"), self.s.log));
        out.push((format!("{name}.receiver.txt"), self.r.log));
    }
}

/// A message of stream 7 (`prev`, `version`, payload = the version's
/// low byte), with extra `key=value`s.
fn m(prev: u64, version: u64, extra: &str) -> String {
    format!(
        "stream=7 prev={prev} version={version} payload={:02x} {extra}",
        version & 0xff
    )
    .trim_end()
    .to_string()
}

/// The scenarios: name and the recorded pair.
fn scenarios() -> Vec<(String, String)> {
    let mut out = Vec::new();

    // In order, committed at once.
    let mut p = Pair::new(
        "basic",
        "Three messages in order, each committed at once: coalesced acks, Acked.",
        "",
    );
    for v in 1..=3 {
        p.s(&format!("send {}", m(v - 1, v, "")));
        p.run_for(1_000);
    }
    p.run_for(2_000_000);
    p.write("basic", &mut out);

    // The first DATA packet lost: the RTO resends it (no RTT sample yet).
    let mut p = Pair::new(
        "loss_rto",
        "The first DATA packet is lost; the retransmission timer (initial_rto) resends it.",
        "",
    );
    p.drop_down.insert(0);
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(3_000_000);
    p.write("loss_rto", &mut out);

    // RTO backoff then escalation, then peer dead.
    let mut p = Pair::new(
        "escalation_peer_dead",
        "Every packet to the receiver is lost: RTO backoff (doubling), escalation after\n\
         max_retransmits=2, FLOOR; a second message keeps the sender busy until peer_dead_after.",
        "max_retransmits=2 peer_dead_after=20000000",
    );
    p.cut_down = true;
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(10_000_000);
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(30_000_000);
    p.write("escalation_peer_dead", &mut out);

    // Fast retransmit: an RTT sample first, then a flight with one loss.
    let mut p = Pair::new(
        "fast_retransmit",
        "After one round trip (RTT sample), six messages 5 ms apart; the first of them is lost.\n\
         Later ones are acked past it: fast retransmit (packet and time thresholds), no RTO.",
        "",
    );
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(100_000);
    let lost = p.s.written;
    p.drop_down.insert(lost);
    for v in 2..=7 {
        p.s(&format!("send {}", m(v - 1, v, "")));
        p.run_for(5_000);
    }
    p.run_for(2_000_000);
    p.write("fast_retransmit", &mut out);

    // Tail-loss probe: the ACK of the last flight is lost.
    let mut p = Pair::new(
        "tail_probe",
        "After an RTT sample, the ACK of the next message is lost: the tail-loss probe\n\
         (FLOOR + PING) gets a fresh ACK before the retransmission timer.",
        "",
    );
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(100_000);
    p.cut_up = true;
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(15_000);
    p.cut_up = false;
    p.run_for(2_000_000);
    p.write("tail_probe", &mut out);

    // PING while the receiving app takes its time to commit.
    let mut p = Pair::new(
        "late_commit_ping",
        "The receiving app commits 3 s after delivery: the message is received (no resend),\n\
         the sender PINGs with backoff until the commit is acked.",
        "",
    );
    p.auto_commit = false;
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(3_000_000);
    p.r("commit 7 1");
    p.run_for(1_000_000);
    p.write("late_commit_ping", &mut out);

    // Reordering below the gap timer, and a hole filled by sync.
    let mut p = Pair::new(
        "gap_sync",
        "The sender pushes v1 then v3 (prev 2): v2 never comes live. After gap_wait the receiver\n\
         reports Gap and syncs after 1; the store answers v2, v3 (v3 already held: an alias).",
        "",
    );
    p.stored(7, &m(1, 2, ""));
    p.stored(7, &m(2, 3, ""));
    p.s(&format!("send {}", m(0, 1, "")));
    p.s(&format!("send {}", m(2, 3, "")));
    p.run_for(3_000_000);
    p.write("gap_sync", &mut out);

    // Resume and sync paging.
    let mut p = Pair::new(
        "resume_sync_paging",
        "A reconnecting receiver resumes stream 7 at 2; the store holds v1..v9. Pages of\n\
         sync_page=3 follow one another (more=1) until the last (more=0).",
        "sync_page=3",
    );
    for v in 1..=9 {
        p.stored(7, &m(v - 1, v, ""));
    }
    p.r("resume 7 2");
    p.run_for(3_000_000);
    p.write("resume_sync_paging", &mut out);

    // Sync retry: the first SYNC is lost, the retry doubles.
    let mut p = Pair::new(
        "sync_retry",
        "resume sends SYNC; the first two are lost: retried after sync_retry, then 2x.",
        "sync_retry=500000",
    );
    p.stored(7, &m(0, 1, ""));
    p.drop_up.insert(0);
    p.drop_up.insert(1);
    p.r("resume 7 0");
    p.run_for(5_000_000);
    p.write("sync_retry", &mut out);

    // A package, live.
    let mut p = Pair::new(
        "package",
        "A package of three members sent live, the middle one lost once: nothing is delivered\n\
         until all are held, then the three in order.",
        "",
    );
    p.drop_down.insert(1);
    for (i, v) in (1..=3).enumerate() {
        p.s(&format!(
            "send {}",
            m(v - 1, v, &format!("package=9/{i}/3/3"))
        ));
        p.run_for(1_000);
    }
    p.run_for(3_000_000);
    p.write("package", &mut out);

    // A package across sync pages.
    let mut p = Pair::new(
        "package_across_pages",
        "resume at 0 with sync_page=2; the store holds v1 and a package v2..v4: the package spans\n\
         two pages and is delivered when the second page completes it.",
        "sync_page=2",
    );
    p.stored(7, &m(0, 1, ""));
    for (i, v) in (2..=4).enumerate() {
        p.stored(7, &m(v - 1, v, &format!("package=5/{i}/3/4")));
    }
    p.r("resume 7 0");
    p.run_for(3_000_000);
    p.write("package_across_pages", &mut out);

    // A package that never completes.
    let mut p = Pair::new(
        "package_expired",
        "Members 0 and 2 of a package of 3 arrive, member 1 exists nowhere: package_timeout,\n\
         package_retries re-fetches (empty pages), then PackageExpired; the sender hears Skipped.",
        "package_timeout=500000 package_retries=1",
    );
    p.s(&format!("send {}", m(0, 1, "package=4/0/3/3")));
    p.s(&format!("send {}", m(2, 3, "package=4/2/3/3")));
    p.run_for(4_000_000);
    p.write("package_expired", &mut out);

    // Receipts.
    let mut p = Pair::new(
        "receipts",
        "A message with a receipt: the commit's receipt rides in the packet of the ACK that\n\
         reports it, and the sender's Acked carries it.",
        "",
    );
    p.s(&format!("send {}", m(0, 1, "receipt=1")));
    p.run_for(2_000_000);
    p.write("receipts", &mut out);

    // ReceiptWanted: a resend on a new connection of a message committed before.
    let mut p = Pair::new(
        "receipt_wanted",
        "The receiver resumed stream 7 at 5 (committed on an earlier connection); a resend of\n\
         v5 wanting a receipt: ReceiptWanted, the app's provide_receipt, Acked with it.",
        "",
    );
    p.r("resume 7 5");
    p.run_for(100_000);
    p.s(&format!("send {}", m(4, 5, "receipt=1")));
    p.run_for(2_000_000);
    p.write("receipt_wanted", &mut out);

    // QoS levels.
    let mut p = Pair::new(
        "qos_levels",
        "A datagram (at most once, no ack), an at-least-once message (delivered on arrival, no\n\
         chain) and an exactly-once one, on stream 7.",
        "",
    );
    p.s(&format!("send {}", m(0, 100, "qos=most")));
    p.s(&format!("send {}", m(0, 50, "qos=least")));
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(2_000_000);
    p.write("qos_levels", &mut out);

    // Contiguous stream: sparse acks, and a hole known at once.
    let mut p = Pair::new(
        "contiguous",
        "Stream 7 declared contiguous: sparse acks for in-order messages; v4 after v2 proves a\n\
         hole at once (Gap and sync without gap_wait); the store fills it.",
        "",
    );
    p.r("contiguous 7 1");
    p.stored(7, &m(2, 3, ""));
    p.stored(7, &m(3, 4, ""));
    p.s(&format!("send {}", m(0, 1, "")));
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(200_000);
    p.s(&format!("send {}", m(3, 4, "")));
    p.run_for(2_000_000);
    p.write("contiguous", &mut out);

    // resume_latest.
    let mut p = Pair::new(
        "resume_latest",
        "A new device: resume_latest(7, 3) on a stream holding v1..v6 starts at v3 (Started);\n\
         a live push of v2 afterwards is passed over: Skipped, never Acked.",
        "",
    );
    for v in 1..=6 {
        p.stored(7, &m(v - 1, v, ""));
    }
    p.r("resume_latest 7 3");
    p.run_for(500_000);
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(2_000_000);
    p.write("resume_latest", &mut out);

    // resume_started.
    let mut p = Pair::new(
        "resume_started",
        "A later connection of that device: resume_started(7, after 3, last 6); a push of v2 is\n\
         skipped, one of v7 delivered.",
        "",
    );
    for v in 1..=6 {
        p.stored(7, &m(v - 1, v, ""));
    }
    p.r("resume_started 7 3 6");
    p.run_for(500_000);
    p.s(&format!("send {}", m(1, 2, "")));
    p.s(&format!("send {}", m(6, 7, "")));
    p.run_for(2_000_000);
    p.write("resume_started", &mut out);

    // History.
    let mut p = Pair::new(
        "history",
        "fetch_history(7, before 6, 3) on a stream holding v1..v5: one History event (v3..v5,\n\
         more); the sender hears Skipped for the HISTORY copies.",
        "",
    );
    for v in 1..=5 {
        p.stored(7, &m(v - 1, v, ""));
    }
    p.r("resume 7 5");
    p.run_for(100_000);
    p.r("fetch_history 7 6 3");
    p.run_for(2_000_000);
    p.write("history", &mut out);

    // Flow control.
    let mut p = Pair::new(
        "flow_control",
        "max_held_messages=3 and a slow app: the ACK's room lets at most that many messages\n\
         out; the rest wait in the sender's queue until commits free room.",
        "max_held_messages=3",
    );
    p.auto_commit = false;
    p.s(&format!("send {}", m(0, 1, "")));
    p.run_for(100_000);
    for v in 2..=8 {
        p.s(&format!("send {}", m(v - 1, v, "")));
    }
    p.run_for(300_000);
    for v in 1..=8 {
        p.r(&format!("commit 7 {v}"));
        p.run_for(50_000);
    }
    p.run_for(2_000_000);
    p.write("flow_control", &mut out);

    // Duplicates by SID and by version.
    let mut p = Pair::new(
        "duplicates",
        "Every ACK of the first round trip is lost: the RTO resends what the receiver holds:\n\
         a duplicate SID is re-acked at once and not delivered again.",
        "",
    );
    p.cut_up = true;
    p.s(&format!("send {}", m(0, 1, "")));
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(500_000);
    p.cut_up = false;
    p.run_for(3_000_000);
    p.write("duplicates", &mut out);

    // ACK ranges truncated.
    let mut p = Pair::new(
        "ack_range_truncation",
        "max_ack_ranges=2 and three holes: each ACK carries the two lowest ranges of each set;\n\
         the retransmissions fill the holes and the floors carry the rest.",
        "max_ack_ranges=2",
    );
    p.auto_commit = false;
    for i in [1, 3, 5] {
        p.drop_down.insert(i);
    }
    for v in 1..=7 {
        p.s(&format!("send {}", m(v - 1, v, "")));
        p.run_for(1_000);
    }
    p.run_for(50_000);
    for v in 1..=7 {
        p.r(&format!("commit 7 {v}"));
    }
    p.run_for(3_000_000);
    p.write("ack_range_truncation", &mut out);

    // Sender closed by the app.
    let mut p = Pair::new(
        "close",
        "The app closes the sender with one message received but uncommitted and one queued.",
        "max_in_flight=1",
    );
    p.auto_commit = false;
    p.s(&format!("send {}", m(0, 1, "")));
    p.s(&format!("send {}", m(1, 2, "")));
    p.run_for(100_000);
    p.s("close");
    p.run_for(1_000_000);
    p.write("close", &mut out);

    out
}

#[test]
#[ignore = "writes conformance/traces/ from the scenarios; review the diff"]
fn generate() {
    let dir = suite_dir("traces");
    std::fs::create_dir_all(&dir).unwrap();
    for old in std::fs::read_dir(&dir).unwrap() {
        let p = old.unwrap().path();
        if p.extension().is_some_and(|x| x == "txt") {
            std::fs::remove_file(p).unwrap();
        }
    }
    for (name, text) in scenarios() {
        std::fs::write(dir.join(name), text).unwrap();
    }
    for path in files("decode") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        let mut in_case = false;
        for line in text.lines() {
            if line.starts_with("> ") {
                continue;
            }
            if line.starts_with("case ") && in_case {
                out.push('\n');
            }
            if !line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
            }
            if line.starts_with("case ") {
                in_case = true;
            }
        }
        // Expectations go after each case's inputs.
        let mut with = String::new();
        let cases = parse_decode_file(&out);
        let mut it = cases.iter();
        let mut current: Option<&(DecodeCase, Vec<String>)> = None;
        let flush = |c: Option<&(DecodeCase, Vec<String>)>, w: &mut String| {
            if let Some((case, _)) = c {
                for e in decode_expect(case) {
                    let _ = writeln!(w, "> {e}");
                }
            }
        };
        for line in out.lines() {
            if line.starts_with("case ") {
                flush(current, &mut with);
                if current.is_some() {
                    with.push('\n');
                }
                current = it.next();
            }
            if !line.is_empty() {
                with.push_str(line);
                with.push('\n');
            }
        }
        flush(current, &mut with);
        std::fs::write(&path, with).unwrap();
    }
}
