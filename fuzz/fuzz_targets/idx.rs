//! IDX image and label files (MNIST, Fashion-MNIST): an error or a dataset, never a panic.
#![no_main]
use convlab::data::idx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = idx::parse_images(bytes, "fuzz");
    let _ = idx::parse_labels(bytes, 10, "fuzz");
});
