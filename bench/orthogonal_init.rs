//! Seconds to build each named preset's net (CIFAR-10 input, 10 classes) with
//! `model.init = "orthogonal"`, once each, on flex: what `convlab train` spends on the init
//! before its first step. bench/orthogonal_speed.py runs it beside PyTorch's `orthogonal_`.
//!
//!     cargo run --release --example orthogonal_init -- resnet18 vgg-blocks vgg16
//!
//! Prints one line per preset: its name and the seconds.

use burn::prelude::*;
use convlab::model::presets::resolve_layers;
use convlab::model::spec::Shape;
use convlab::model::{Init, ModelConfig, Net};
use std::time::Instant;

// As the convlab binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let device = Device::flex();
    for preset in std::env::args().skip(1) {
        let model = ModelConfig {
            preset: preset.clone(),
            ..Default::default()
        };
        let layers = match resolve_layers(&model, 10, "orthogonal_init") {
            Ok(layers) => layers,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let input = Shape::Image { c: 3, h: 32, w: 32 };
        let start = Instant::now();
        let net = Net::new(&layers, input, Init::Orthogonal, &device);
        std::hint::black_box(&net);
        println!("{preset} {:.4}", start.elapsed().as_secs_f64());
    }
}
