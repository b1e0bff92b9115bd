//! The pickle reader, alone and as CIFAR-10's python batches.
#![no_main]
use convlab::data::{cifar, pickle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = pickle::parse(bytes);
    let _ = cifar::parse_python(bytes, "fuzz");
});
