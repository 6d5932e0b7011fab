//! Chapter 9 and its appendix: one training step (forward, backward,
//! clipping and AdamW) of the selective-copying configuration of Mamba's
//! Table 1 at laptop scale: d_model = 64, 2 layers, N = 16, expand 2, a
//! vocabulary of 16, batches of 32 sequences of 256 + 8 tokens, the loss on
//! the last 8. The fast `f32` path against the readable `f64` one.
//!
//! Run: `cargo bench --bench training`. Throughput is in training tokens
//! (every input token of the batch) per second.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::RngExt;
use ssm_lineage::mamba::{MambaConfig, MambaModel};
use ssm_lineage::support::rng::seeded;
use ssm_lineage::train::fast::FastMamba;
use ssm_lineage::train::{Example, TrainConfig, Trainable, Trainer};

const BATCH: usize = 32;
const LEN: usize = 256 + 8;

/// Random tokens with the copying layout's loss mask (the last 8).
fn batch(seed: u64) -> Vec<Example> {
    let mut rng = seeded(seed);
    (0..BATCH)
        .map(|_| {
            let tokens: Vec<usize> =
                (0..LEN).map(|_| rng.random_range(0..16)).collect();
            let targets = (0..LEN)
                .map(|t| (t >= LEN - 8).then(|| tokens[t - 8]))
                .collect();
            Example { tokens, targets }
        })
        .collect()
}

fn step<M: Trainable<Batch = Vec<Example>>>(
    trainer: &mut Trainer<M>,
    b: &Vec<Example>,
) {
    trainer.step(b).expect("a finite loss");
}

fn training(c: &mut Criterion) {
    let model = MambaModel::new(&MambaConfig::new(64, 2, 16), 0).expect("valid");
    let b = batch(1);
    let mut group = c.benchmark_group("training_step");
    group.throughput(Throughput::Elements((BATCH * LEN) as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    let mut fast = Trainer::new(
        FastMamba {
            model: model.clone(),
        },
        TrainConfig::new(1, 1e-3),
    )
    .expect("valid");
    group.bench_function("fast_f32", |bench| bench.iter(|| step(&mut fast, &b)));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut readable =
        Trainer::new(model, TrainConfig::new(1, 1e-3)).expect("valid");
    group.bench_function("readable_f64", |bench| {
        bench.iter(|| step(&mut readable, &b))
    });
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
