//! The codec and the SID dedup window alone, per operation.
//!
//! Both are crate-private (`frame`, `packet`, `sid_set`), and benches may
//! not touch `src/`, so this bench compiles those very source files into
//! itself (`#[path]` modules, the same code and the same optimisation
//! level as the library). Once the crate exposes its internals behind a
//! feature for fuzzing and benches (STYLE.md §10), this file should use
//! that instead.
//!
//! - `codec/data_64B_*`: one DATA frame with a 64-byte payload (SID, stream,
//!   prev, version as a live message has them), the frame alone and as a
//!   whole packet (header, CRC-32, open, decode_all).
//! - `codec/ack_*`: an ACK frame with floors only (the lossless case) and
//!   with 8 ranges in each list (a lossy window).
//! - `sid_window/*`: the receiver's SID set (1,024-SID window): membership
//!   then insert for the next SID (in order); the same with each block of
//!   ten arriving 1..9 then 0 (holes, floor jumps); a duplicate's check.

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
#[path = "../src/sid_set.rs"]
mod sid_set;
#[path = "../src/sync.rs"]
mod sync;
#[path = "../src/varint.rs"]
mod varint;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use message::{Message, StreamId, Version};
use sid_set::{Membership, SidSet};
use std::hint::black_box;

fn data_message() -> Message {
    Message::new(
        StreamId(3),
        Version(1_000_000),
        Version(1_000_001),
        Bytes::from_static(&[0x5a; 64]),
    )
}

fn ack_body(ranges: usize) -> BytesMut {
    // A SidSet like the receiver's, holes every 8 SIDs above the floor.
    let mut set = SidSet::new(1024);
    for sid in 0..100_000u64 {
        set.insert(sid);
    }
    for k in 0..ranges as u64 {
        for sid in 100_001 + k * 8..100_001 + k * 8 + 7 {
            set.insert(sid);
        }
    }
    let mut buf = BytesMut::with_capacity(1024);
    write_ack(&mut buf, &set, &set);
    buf
}

/// What `Receiver::write_ack` writes, from the same frame functions.
fn write_ack(buf: &mut BytesMut, received: &SidSet, committed: &SidSet) {
    buf.put_u8(frame::kind::ACK);
    varint::put(buf, 1234);
    frame::put_ranges(buf, received.floor(), received.ranges().take(32));
    frame::put_ranges(buf, committed.floor(), committed.ranges().take(32));
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let msg = data_message();
    let sid = 123_456u64;
    let mut buf = BytesMut::with_capacity(4096);

    g.bench_function("data_64B_encode", |b| {
        b.iter(|| {
            buf.clear();
            frame::put_data(&mut buf, black_box(sid), black_box(&msg), false);
            black_box(buf.len())
        })
    });

    let mut enc = BytesMut::new();
    frame::put_data(&mut enc, sid, &msg, false);
    let body = enc.freeze();
    g.bench_function("data_64B_decode", |b| {
        b.iter(|| {
            let mut pos = 0;
            black_box(frame::decode(black_box(&body), &mut pos).unwrap())
        })
    });

    // One message per packet: the worst case for the packet's fixed cost
    // (header, CRC over 95 bytes, open, a Vec of decoded frames).
    let mut writer = packet::PacketWriter::new(16 * 1024, packet::ConnectionId(1));
    let mut frames = Vec::new();
    g.bench_function("data_64B_packet_encode_decode", |b| {
        b.iter(|| {
            let buf = writer.begin(16 * 1024);
            frame::put_data(buf, black_box(sid), black_box(&msg), false);
            let p = writer.finish().unwrap();
            let (body, _id) = packet::open(&p, 16 * 1024).unwrap();
            frame::decode_all::<error::CodecError>(&body, &mut frames, |_| Ok(())).unwrap();
            black_box(frames.drain(..).count())
        })
    });

    for ranges in [0usize, 8] {
        let body = ack_body(ranges).freeze();
        let mut set = SidSet::new(1024);
        for sid in 0..100_000u64 {
            set.insert(sid);
        }
        for k in 0..ranges as u64 {
            for sid in 100_001 + k * 8..100_001 + k * 8 + 7 {
                set.insert(sid);
            }
        }
        g.bench_function(format!("ack_{ranges}_ranges_encode"), |b| {
            b.iter(|| {
                buf.clear();
                write_ack(&mut buf, black_box(&set), black_box(&set));
                black_box(buf.len())
            })
        });
        g.bench_function(format!("ack_{ranges}_ranges_decode_iterate"), |b| {
            b.iter(|| {
                let mut pos = 0;
                let f = frame::decode(black_box(&body), &mut pos).unwrap();
                let frame::Frame::Ack(a) = f else {
                    unreachable!()
                };
                // The sender walks both lists.
                let n: u64 = a
                    .received
                    .ranges()
                    .chain(a.committed.ranges())
                    .map(|(s, e)| e - s)
                    .sum();
                black_box(n)
            })
        });
    }
    g.finish();
}

fn sid_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("sid_window");
    g.throughput(Throughput::Elements(1));
    let mut set = SidSet::new(1024);
    let mut next = 0u64;
    g.bench_function("in_order_membership_insert", |b| {
        b.iter(|| {
            let sid = black_box(next);
            next += 1;
            let fresh = set.membership(sid) == Membership::Out;
            black_box(fresh && set.insert(sid))
        })
    });

    // Each block of ten arrives as 1..9 then 0: a hole opens at every
    // block's start and the floor jumps ten when it closes.
    let mut set = SidSet::new(1024);
    let mut i = 0u64;
    g.bench_function("reordered_membership_insert", |b| {
        b.iter(|| {
            let (block, k) = (i / 10 * 10, i % 10);
            i += 1;
            let sid = black_box(if k == 9 { block } else { block + k + 1 });
            let fresh = set.membership(sid) == Membership::Out;
            black_box(fresh && set.insert(sid))
        })
    });

    let dup = set.floor() + 3;
    g.bench_function("duplicate_membership", |b| {
        b.iter(|| black_box(set.membership(black_box(dup))))
    });
    g.finish();
}

criterion_group!(benches, codec, sid_window);
criterion_main!(benches);
