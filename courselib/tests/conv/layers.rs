//! The layers in dfdx tuples: building, initialisation, gradients, training.

use super::*;
use courselib::conv::builders::{AvgPool2d, Conv2d, ConvTranspose2d, Flatten, MaxPool2d};
use courselib::conv::ConvDevice;
use courselib::device::{device, Dev};
use courselib::optim::{Optimiser, UpdateRule};
use dfdx::optim::{Adam, AdamConfig};

type Cnn = (
    (Conv2d<1, 8, 3, 1, 1, 28, 28>, ReLU, MaxPool2d<2, 2, 14, 14>),
    (Conv2d<8, 16, 3, 1, 1, 14, 14>, ReLU, MaxPool2d<2, 2, 7, 7>),
    (Flatten<784>, Linear<784, 10>),
);

#[test]
fn the_book_cnn_builds_and_runs_on_the_course_device() {
    fn run<D: ConvDevice<f32>>(dev: &D) -> Vec<f32> {
        let model = dev.build_module::<Cnn, f32>();
        let x: Tensor<Rank4<2, 1, 28, 28>, f32, D> = dev.ones();
        let logits: Tensor<Rank2<2, 10>, f32, D, _> = model.forward(x.trace(model.alloc_grads()));
        let grads = logits.sum().backward();
        // every parameter got a gradient
        assert_eq!(grads.get(&model.0 .0.weight).as_vec().len(), 8 * 9);
        grads.get(&model.2 .1.weight).as_vec()
    }
    assert!(run(&device(0)).iter().any(|&g| g != 0.0));
}

#[test]
fn initialisation_is_pytorch_uniform_in_one_over_sqrt_fan_in() {
    let dev = Cpu::default();
    let conv = dev.build_module::<Conv2d<8, 16, 3, 1, 1, 14, 14>, f64>();
    let bound = 1.0 / (8.0 * 9.0f64).sqrt();
    for v in conv.weight.as_vec().into_iter().chain(conv.bias.as_vec()) {
        assert!(v.abs() <= bound, "conv weight {v} outside ±{bound}");
    }
    let max = conv.weight.as_vec().into_iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max > 0.9 * bound, "1152 uniform draws should come near the bound, largest {max}");
    let up = dev.build_module::<ConvTranspose2d<16, 8, 4, 2, 1, 14, 14>, f64>();
    let bound = 1.0 / (8.0 * 16.0f64).sqrt(); // PyTorch: fan-in from the weight's dim 1
    assert!(up.weight.as_vec().iter().all(|v| v.abs() <= bound));
    assert_eq!(up.num_trainable_params(), 16 * 8 * 16 + 8);
}

#[test]
fn layers_compute_the_functions() {
    let dev = Cpu::default();
    type Net = (
        Conv2d<2, 3, 3, 2, 1, 4, 4>,
        AvgPool2d<2, 2, 2, 2>,
        ConvTranspose2d<3, 2, 2, 2, 0, 4, 4>,
        MaxPool2d<3, 1, 2, 2>,
        Flatten<8>,
    );
    let net = dev.build_module::<Net, f64>();
    let x: Tensor<Rank4<2, 2, 8, 8>, f64, _> = random(&dev, 3);
    let y = net.forward(x.clone());
    let (c, _, t, _, _) = &net;
    let h: Tensor<Rank4<2, 3, 4, 4>, f64, _> = conv2d(x, &c.weight, &c.bias, Const::<2>, Const::<1>);
    let h: Tensor<Rank4<2, 3, 2, 2>, f64, _> = avg_pool2d(h, Const::<2>, Const::<2>);
    let h: Tensor<Rank4<2, 2, 4, 4>, f64, _> =
        conv_transpose2d(h, &t.weight, &t.bias, Const::<2>, Const::<0>);
    let h: Tensor<Rank4<2, 2, 2, 2>, f64, _> = max_pool2d(h, Const::<3>, Const::<1>);
    assert_eq!(y.as_vec(), h.as_vec());
}

/// Four classes of 12×12 images: a horizontal, vertical, diagonal or anti-diagonal bar at
/// a random offset, plus noise.
fn bars<const N: usize>(
    rng: &mut impl Rng,
) -> (Tensor<Rank4<N, 1, 12, 12>, f32, Dev>, Tensor<Rank2<N, 4>, f32, Dev>, Dev) {
    let dev = device(0);
    let (mut x, mut y) = (vec![0.0f32; N * 144], vec![0.0f32; N * 4]);
    for n in 0..N {
        let (class, at) = (rng.gen_range(0..4), rng.gen_range(2..10));
        y[n * 4 + class] = 1.0;
        for i in 0..12 {
            let (r, c) = match class {
                0 => (at, i),
                1 => (i, at),
                2 => (i, i),
                _ => (i, 11 - i),
            };
            x[n * 144 + r * 12 + c] = 1.0;
        }
        for v in &mut x[n * 144..(n + 1) * 144] {
            *v += rng.gen_range(-0.3..0.3);
        }
    }
    (
        dev.tensor_from_vec(x, Rank4::<N, 1, 12, 12>::default()),
        dev.tensor_from_vec(y, Rank2::<N, 4>::default()),
        dev,
    )
}

type Tiny = (Conv2d<1, 4, 3, 1, 1, 12, 12>, ReLU, MaxPool2d<2, 2, 6, 6>, Flatten<144>, Linear<144, 4>);

/// Mean cross-entropy over the first and the last ten of `steps` training steps.
fn train(
    steps: usize,
    mut update: impl FnMut(&mut <Tiny as BuildOnDevice<Dev, f32>>::Built, &Gradients<f32, Dev>),
) -> (f32, f32) {
    let mut rng = courselib::device::rng(7);
    let mut model = device(1).build_module::<Tiny, f32>();
    let mut grads = model.alloc_grads();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (x, y, _) = bars::<16>(&mut rng);
        let loss = cross_entropy_with_logits_loss(model.forward(x.trace(grads)), y);
        losses.push(loss.array());
        grads = loss.backward();
        update(&mut model, &grads);
        model.zero_grads(&mut grads);
    }
    let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len() as f32;
    (mean(&losses[..10]), mean(&losses[steps - 10..]))
}

#[test]
fn a_tiny_cnn_learns_bars_with_adam() {
    let mut adam =
        Adam::new(&device(0).build_module::<Tiny, f32>(), AdamConfig { lr: 1e-2, ..Default::default() });
    let (first, last) = train(60, |m, g| adam.update(m, g).unwrap());
    assert!(last < 0.5 * first, "cross-entropy {first} → {last}: should halve in 60 Adam steps");
}

#[test]
fn a_tiny_cnn_learns_bars_with_the_course_optimiser() {
    struct Descent;
    impl UpdateRule for Descent {
        type State = ();
        fn update(&self, learning_rate: f32, _: u32, w: &mut f32, g: f32, _: &mut ()) {
            *w -= learning_rate * g;
        }
    }
    let mut sgd = Optimiser::new(Descent, 0.1);
    let (first, last) = train(60, |m, g| sgd.update(m, g).unwrap());
    assert!(last < 0.7 * first, "cross-entropy {first} → {last}: should fall in 60 descent steps");
}
