//! The full loop — send, transmit, receive, deliver, commit, ack, Acked —
//! for 64-byte messages, two endpoints back to back in memory on a fake
//! clock, side by side with the peers the performance issue names: KCP
//! (the `kcp` crate) and rumqttc's MQTT QoS 1 state machine (`MqttState`,
//! publish -> puback), alone and with its v4 codec. Every peer sends the
//! same 1,024 payloads per round and loses packets by the same RNG
//! (`common::Loss`). Reported per message (criterion's throughput in
//! elements).

use common::Pair;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use peers::{kcp_side, mqtt_side, BATCH};

mod common;
#[path = "common/peers.rs"]
mod peers;

fn full_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("full_loop_64B");
    g.throughput(Throughput::Elements(BATCH));
    for loss in [0u64, 10] {
        g.bench_function(format!("ackwire_loss_{loss}pct"), |b| {
            b.iter_batched_ref(
                || {
                    let mut p = Pair::new(Pair::full_loop_config(), 8, loss);
                    p.round(BATCH);
                    p
                },
                |p| p.round(BATCH),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("kcp_0.6_loss_{loss}pct"), |b| {
            b.iter_batched_ref(
                || {
                    let mut p = kcp_side::Pair::new(loss);
                    p.round();
                    p
                },
                |p| p.round(),
                BatchSize::LargeInput,
            )
        });
        for (codec, name) in [(false, "state"), (true, "codec")] {
            g.bench_function(format!("rumqttc_0.25_{name}_loss_{loss}pct"), |b| {
                b.iter_batched_ref(
                    || {
                        let mut p = mqtt_side::Pair::new(loss, codec);
                        p.round();
                        p
                    },
                    |p| p.round(),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, full_loop);
criterion_main!(benches);
