//! Bytes as a JPEG upload: convlab's own decoder (src/data/jpeg/), which `serve` runs on what
//! anyone posts, then the image crate where it declines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = convlab::data::image_files::decode_image(bytes);
});
