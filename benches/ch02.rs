//! Chapter 2: the same gradients of the digit MLP computed by the hand-written backward pass
//! and by dfdx's tape, for one mini-batch of 32 digits.

use std::hint::black_box;

use courselib::device::{device, Dev};
use criterion::Criterion;
use solutions::ch02_backprop::{tape_gradients, DigitMlp, BATCH, DIGIT_PIXELS};

pub fn backward_by_hand_vs_tape(c: &mut Criterion) {
    let dev = device(0);
    let set = datasets::digits::load().expect("the digits dataset loads");
    let indices: Vec<usize> = (0..BATCH).collect();
    let (x, labels) = courselib::data::flat_batch::<BATCH, DIGIT_PIXELS, Dev>(&dev, &set, &indices);
    let mlp = DigitMlp::<64, Dev>::new(&dev, 0);
    let mut group = c.benchmark_group("ch02 digit MLP loss and gradients, batch 32");
    group.bench_function("hand-written backward", |b| {
        b.iter(|| black_box(mlp.loss_and_gradients(&x, &labels)))
    });
    group.bench_function("dfdx tape", |b| b.iter(|| black_box(tape_gradients(&mlp, &x, &labels))));
    group.finish();
}
