//! The conformance line protocol (`conformance/README.md`): one command in,
//! the endpoint's whole reaction out, as text.
//!
//! Shared by the probe (`examples/conformance_probe.rs`, over stdin and
//! stdout) and the replay test (`tests/conformance.rs`, over the files in
//! `conformance/traces/`), which include this file with `#[path]`. Keep it
//! a plain module: only `ackwire`, `bytes` and `std`.

use ackwire::*;
use bytes::Bytes;
use std::fmt::Write as _;
use std::time::Duration;

/// The endpoint under test.
pub enum Endpoint {
    /// A receiving endpoint.
    Receiver(Receiver),
    /// A sending endpoint.
    Sender(Sender),
}

/// Runs commands against one endpoint and renders what it does.
#[derive(Default)]
pub struct Driver {
    endpoint: Option<Endpoint>,
}

/// Lowercase hex, no separators; `-` for no bytes.
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses [`hex`]'s form (spaces allowed between bytes).
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s == "-" {
        return Ok(Vec::new());
    }
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd hex length: {s}"));
    }
    digits
        .chunks(2)
        .map(|p| {
            let t = std::str::from_utf8(p).map_err(|e| e.to_string())?;
            u8::from_str_radix(t, 16).map_err(|_| format!("bad hex: {s}"))
        })
        .collect()
}

fn num(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not a number: {s}"))
}

/// `key=value` pairs of a message or a request, in any order.
fn pairs(words: &[&str]) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("expected key=value: {w}"))
        })
        .collect()
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn need(kv: &[(String, String)], key: &str) -> Result<u64, String> {
    num(get(kv, key).ok_or_else(|| format!("missing {key}="))?)
}

/// A message in its text form: `stream= prev= version= payload=`, and
/// optionally `qos=exactly|least|most`, `receipt=0|1`,
/// `package=id/index/count/last`. `stream` may come from `default_stream`.
pub fn parse_message(words: &[&str], default_stream: Option<u64>) -> Result<Message, String> {
    let kv = pairs(words)?;
    let stream = match get(&kv, "stream") {
        Some(s) => num(s)?,
        None => default_stream.ok_or("missing stream=")?,
    };
    let payload = Bytes::from(unhex(get(&kv, "payload").unwrap_or("-"))?);
    let mut m = Message::new(
        StreamId(stream),
        Version(need(&kv, "prev")?),
        Version(need(&kv, "version")?),
        payload,
    );
    m.qos = match get(&kv, "qos").unwrap_or("exactly") {
        "exactly" => Qos::ExactlyOnce,
        "least" => Qos::AtLeastOnce,
        "most" => Qos::AtMostOnce,
        q => return Err(format!("bad qos: {q}")),
    };
    m.wants_receipt = get(&kv, "receipt").unwrap_or("0") == "1";
    if let Some(p) = get(&kv, "package").filter(|p| *p != "-") {
        let f: Vec<&str> = p.split('/').collect();
        if f.len() != 4 {
            return Err(format!("bad package: {p}"));
        }
        let u32_of = |s: &str| -> Result<u32, String> {
            u32::try_from(num(s)?).map_err(|_| format!("not a u32: {s}"))
        };
        m.package = Some(Package::new(
            num(f[0])?,
            u32_of(f[1])?,
            u32_of(f[2])?,
            Version(num(f[3])?),
        ));
    }
    Ok(m)
}

/// [`parse_message`]'s form, every field written.
pub fn message_text(m: &Message) -> String {
    let qos = match m.qos {
        Qos::ExactlyOnce => "exactly",
        Qos::AtLeastOnce => "least",
        Qos::AtMostOnce => "most",
    };
    let package = match m.package {
        Some(p) => format!("{}/{}/{}/{}", p.id, p.index, p.count, p.last.0),
        None => "-".into(),
    };
    format!(
        "stream={} prev={} version={} payload={} qos={qos} receipt={} package={package}",
        m.stream.0,
        m.prev.0,
        m.version.0,
        hex(&m.payload),
        u8::from(m.wants_receipt)
    )
}

fn range_text(r: SyncRange) -> String {
    match r {
        SyncRange::After(v) => format!("mode=after anchor={}", v.0),
        SyncRange::Latest => "mode=latest anchor=0".into(),
        SyncRange::Before(v) => format!("mode=before anchor={}", v.0),
    }
}

fn parse_range(kv: &[(String, String)]) -> Result<SyncRange, String> {
    let anchor = Version(need(kv, "anchor")?);
    match get(kv, "mode") {
        Some("after") => Ok(SyncRange::After(anchor)),
        Some("latest") => Ok(SyncRange::Latest),
        Some("before") => Ok(SyncRange::Before(anchor)),
        m => Err(format!("bad mode: {m:?}")),
    }
}

fn unacked_text(list: &[Unacked]) -> String {
    let mut s = String::new();
    for u in list {
        let state = match u.state {
            UnackedState::NeverSent => "never_sent",
            UnackedState::Sent => "sent",
            UnackedState::Received => "received",
        };
        let _ = write!(s, " | state={state} {}", message_text(&u.message));
    }
    s
}

/// A receiver event as one line (without the `event ` prefix).
pub fn receiver_event_text(e: &ReceiverEvent) -> String {
    match e {
        ReceiverEvent::Deliver(m) => format!("deliver {}", message_text(m)),
        ReceiverEvent::Gap {
            stream,
            after,
            waiting_after,
        } => format!(
            "gap stream={} after={} waiting_after={}",
            stream.0, after.0, waiting_after.0
        ),
        ReceiverEvent::PackageExpired {
            stream,
            id,
            after,
            last,
            received,
            count,
        } => format!(
            "package_expired stream={} id={id} after={} last={} received={received} count={count}",
            stream.0, after.0, last.0
        ),
        ReceiverEvent::Started { stream, after } => {
            format!("started stream={} after={}", stream.0, after.0)
        }
        ReceiverEvent::Datagram(m) => format!("datagram {}", message_text(m)),
        ReceiverEvent::ReceiptWanted { stream, version } => {
            format!("receipt_wanted stream={} version={}", stream.0, version.0)
        }
        ReceiverEvent::History {
            stream,
            before,
            messages,
            more,
        } => {
            let mut s = format!(
                "history stream={} before={} more={} count={}",
                stream.0,
                before.0,
                u8::from(*more),
                messages.len()
            );
            for m in messages {
                let _ = write!(s, " | {}", message_text(m));
            }
            s
        }
        other => format!("unknown {other:?}"),
    }
}

/// A sender event as one line (without the `event ` prefix).
pub fn sender_event_text(e: &SenderEvent) -> String {
    match e {
        SenderEvent::Acked {
            stream,
            version,
            receipt,
        } => format!(
            "acked stream={} version={} receipt={}",
            stream.0,
            version.0,
            receipt.as_ref().map_or("none".into(), |r| hex(r))
        ),
        SenderEvent::Skipped { stream, version } => {
            format!("skipped stream={} version={}", stream.0, version.0)
        }
        SenderEvent::Escalated(m) => format!("escalated {}", message_text(m)),
        SenderEvent::PeerDead { unacked } => {
            format!("peer_dead count={}{}", unacked.len(), unacked_text(unacked))
        }
        SenderEvent::SyncRequested(r) => format!(
            "sync_requested stream={} {} limit={}",
            r.stream.0,
            range_text(r.range),
            r.limit
        ),
        SenderEvent::Closed { unacked } => {
            format!("closed count={}{}", unacked.len(), unacked_text(unacked))
        }
        other => format!("unknown {other:?}"),
    }
}

/// The configuration from `key=value` overrides of the defaults
/// (durations in microseconds).
pub fn parse_config(words: &[&str]) -> Result<Config, String> {
    let mut c = Config::default();
    for (k, v) in pairs(words)? {
        let n = num(&v)?;
        let us = Duration::from_micros(n);
        let small = || u32::try_from(n).map_err(|_| format!("not a u32: {v}"));
        match k.as_str() {
            "initial_rto" => c.initial_rto = us,
            "min_rto" => c.min_rto = us,
            "max_rto" => c.max_rto = us,
            "max_retransmits" => c.max_retransmits = small()?,
            "fast_retransmit_threshold" => c.fast_retransmit_threshold = n,
            "peer_dead_after" => c.peer_dead_after = us,
            "max_in_flight" => c.max_in_flight = n,
            "window_stall_timeout" => c.window_stall_timeout = us,
            "max_queued" => c.max_queued = n as usize,
            "max_packet_size" => c.max_packet_size = n as usize,
            "ack_delay" => c.ack_delay = us,
            "ack_every" => c.ack_every = small()?,
            "max_ack_ranges" => c.max_ack_ranges = n as usize,
            "max_streams" => c.max_streams = n as usize,
            "max_reorder_per_stream" => c.max_reorder_per_stream = n as usize,
            "gap_wait" => c.gap_wait = us,
            "sync_page" => c.sync_page = small()?,
            "sync_retry" => c.sync_retry = us,
            "max_held_messages" => c.max_held_messages = n as usize,
            "max_receipts" => c.max_receipts = n as usize,
            "max_receipt_len" => c.max_receipt_len = n as usize,
            "package_timeout" => c.package_timeout = us,
            "package_retries" => c.package_retries = small()?,
            "sparse_ack_every" => c.sparse_ack_every = small()?,
            "sparse_ack_delay" => c.sparse_ack_delay = us,
            _ => return Err(format!("unknown config key: {k}")),
        }
    }
    Ok(c)
}

fn result_text<E: std::fmt::Debug>(r: Result<(), E>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("error {e:?}"),
    }
}

impl Driver {
    /// A driver with no endpoint yet.
    pub fn new() -> Driver {
        Driver::default()
    }

    /// Runs one command line and returns the response lines: the
    /// command's result (if it has one), then `out <hex>` per packet
    /// written, `event <text>` per event, and always `deadline <us|none>`
    /// last. A line the driver can not parse gives `bad <why>` instead of
    /// the result, and changes nothing.
    pub fn run(&mut self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut out = Vec::new();
        let now = match self.command(&words, &mut out) {
            Ok(now) => now,
            Err(e) => {
                out.push(format!("bad {e}"));
                None
            }
        };
        if let Some(now) = now {
            self.drain(now, &mut out);
        }
        out.push(match self.deadline() {
            Some(t) => format!("deadline {}", t.as_micros()),
            None => "deadline none".into(),
        });
        out
    }

    /// The endpoint's next deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.endpoint {
            Some(Endpoint::Receiver(r)) => r.poll_timeout(),
            Some(Endpoint::Sender(s)) => s.poll_timeout(),
            None => None,
        }
    }

    fn drain(&mut self, now: Instant, out: &mut Vec<String>) {
        match &mut self.endpoint {
            Some(Endpoint::Receiver(r)) => {
                while let Some(p) = r.poll_transmit(now) {
                    out.push(format!("out {}", hex(&p)));
                }
                while let Some(e) = r.poll_event() {
                    out.push(format!("event {}", receiver_event_text(&e)));
                }
            }
            Some(Endpoint::Sender(s)) => {
                while let Some(p) = s.poll_transmit(now) {
                    out.push(format!("out {}", hex(&p)));
                }
                while let Some(e) = s.poll_event() {
                    out.push(format!("event {}", sender_event_text(&e)));
                }
            }
            None => {}
        }
    }

    /// Runs the command; returns the time to drain at, if any.
    fn command(&mut self, w: &[&str], out: &mut Vec<String>) -> Result<Option<Instant>, String> {
        let verb = *w.first().ok_or("empty command")?;
        if verb == "receiver" || verb == "sender" {
            let id = ConnectionId(num(w.get(1).ok_or("missing connection id")?)?);
            let config = parse_config(&w[2..])?;
            self.endpoint = Some(if verb == "receiver" {
                Endpoint::Receiver(Receiver::new(config, id))
            } else {
                Endpoint::Sender(Sender::new(config, id))
            });
            return Ok(None);
        }
        let now = Instant::from_micros(num(w.get(1).ok_or("missing time")?)?);
        let args = &w[2..];
        let arg = |i: usize| -> Result<u64, String> {
            num(args
                .get(i)
                .ok_or_else(|| format!("{verb}: missing argument {i}"))?)
        };
        let ep = self
            .endpoint
            .as_mut()
            .ok_or("no endpoint: start with receiver or sender")?;
        let result = match (ep, verb) {
            (_, "poll") => None,
            (Endpoint::Receiver(r), "in") => Some(result_text(
                r.handle_input(now, Bytes::from(unhex(&args.join(""))?)),
            )),
            (Endpoint::Sender(s), "in") => Some(result_text(
                s.handle_input(now, Bytes::from(unhex(&args.join(""))?)),
            )),
            (Endpoint::Receiver(r), "timeout") => {
                r.handle_timeout(now);
                None
            }
            (Endpoint::Sender(s), "timeout") => {
                s.handle_timeout(now);
                None
            }
            (Endpoint::Receiver(r), "commit") => {
                let receipt = Bytes::from(unhex(args.get(2).copied().unwrap_or("-"))?);
                Some(result_text(r.commit_with_receipt(
                    now,
                    StreamId(arg(0)?),
                    Version(arg(1)?),
                    receipt,
                )))
            }
            (Endpoint::Receiver(r), "provide_receipt") => {
                let receipt = Bytes::from(unhex(args.get(2).copied().unwrap_or("-"))?);
                Some(result_text(r.provide_receipt(
                    StreamId(arg(0)?),
                    Version(arg(1)?),
                    receipt,
                )))
            }
            (Endpoint::Receiver(r), "resume") => {
                r.resume(StreamId(arg(0)?), Version(arg(1)?));
                None
            }
            (Endpoint::Receiver(r), "resume_latest") => {
                let n = u32::try_from(arg(1)?).map_err(|_| "latest: not a u32")?;
                r.resume_latest(StreamId(arg(0)?), n);
                None
            }
            (Endpoint::Receiver(r), "resume_started") => {
                r.resume_started(StreamId(arg(0)?), Version(arg(1)?), Version(arg(2)?));
                None
            }
            (Endpoint::Receiver(r), "fetch_history") => {
                let n = u32::try_from(arg(2)?).map_err(|_| "limit: not a u32")?;
                r.fetch_history(StreamId(arg(0)?), Version(arg(1)?), n);
                None
            }
            (Endpoint::Receiver(r), "contiguous") => {
                r.set_contiguous(StreamId(arg(0)?), arg(1)? != 0);
                None
            }
            (Endpoint::Sender(s), "send") => {
                Some(result_text(s.send(now, parse_message(args, None)?)))
            }
            (Endpoint::Sender(s), "answer_sync") => {
                let mut parts = args.split(|w| *w == "|");
                let kv = pairs(parts.next().unwrap_or(&[]))?;
                let stream = need(&kv, "stream")?;
                let request = SyncRequest {
                    stream: StreamId(stream),
                    range: parse_range(&kv)?,
                    limit: u32::try_from(need(&kv, "limit")?).map_err(|_| "limit: not a u32")?,
                };
                let more = need(&kv, "more")? != 0;
                let page = parts
                    .map(|m| parse_message(m, Some(stream)))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(result_text(s.answer_sync(now, &request, &page, more)))
            }
            (Endpoint::Sender(s), "close") => {
                s.close();
                None
            }
            (_, v) => return Err(format!("unknown command for this endpoint: {v}")),
        };
        out.extend(result);
        Ok(Some(now))
    }
}
