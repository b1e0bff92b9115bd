//! CIFAR-10's binary batches.
#![no_main]
use convlab::data::cifar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = cifar::parse_binary(bytes, "fuzz");
});
