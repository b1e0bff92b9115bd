//! Image files decoded as convlab decodes them, written raw for `bench/pixels_vs_pil.py` to
//! set beside PIL's pixels.
//!
//!     cargo run --release --example decode_pixels -- OUT.bin [--resize WxH] FILE...
//!
//! `--image-crate` decodes, and resizes, with the image crate alone (convlab before
//! 2026-12-07: zune-jpeg, and `resize_exact` with the Triangle filter).
//! `--resize WxH` then converts and resizes each image as the image-folder loader and
//! `predict` do (`data::folder::to_chw`: gray stays gray, colour becomes RGB).
//! `--time ROUNDS` writes nothing: it reads the files into memory, then decodes all of them
//! ROUNDS times with convlab's decoder and with the image crate's, in turn, and prints each
//! round's seconds (`bench/decode_speed.py` sets PIL's beside them).
//! OUT.bin: per file, width and height (u32 little-endian), channels (u8: 1 gray, 3 RGB, 0
//! where it did not decode), the decoder (u8: 1 convlab's JPEG decoder, 0 the image crate),
//! then the pixels row-major, channels interleaved.

use std::io::Write;

// As the convlab binary (src/main.rs), so that --time sees its allocator: mimalloc keeping
// freed memory, which a decoder's multi-MB planes and images reuse image after image.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let image_crate = args.iter().any(|a| a == "--image-crate");
    args.retain(|a| a != "--image-crate");
    if let Some(i) = args.iter().position(|a| a == "--time") {
        let rounds: usize = args
            .get(i + 1)
            .and_then(|r| r.parse().ok())
            .expect("--time ROUNDS");
        // SAFETY: sets an integer option (mi_option_purge_delay = 15, never purge), as
        // src/main.rs does; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(15, -1) };
        return time_decoders(rounds, &args[i + 2..]);
    }
    let mut resize = None;
    if let Some(i) = args.iter().position(|a| a == "--resize") {
        let size = args.remove(i + 1);
        args.remove(i);
        let (w, h) = size.split_once('x').expect("--resize WxH");
        resize = Some((w.parse::<u32>().expect("W"), h.parse::<u32>().expect("H")));
    }
    let (out, files) = args
        .split_first()
        .expect("usage: decode_pixels OUT.bin FILE...");
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for file in files {
        let bytes = std::fs::read(file)?;
        // decode_image's own two steps, so that each file is decoded once.
        let ours = if image_crate {
            None
        } else {
            convlab::data::jpeg::decode(&bytes)
        };
        let own = ours.is_some();
        let decoded = match ours {
            Some(img) => Ok(img),
            None => image::load_from_memory(&bytes),
        };
        let decoded = match (decoded, resize) {
            (Ok(img), Some((w, h))) if image_crate => {
                Ok(img.resize_exact(w, h, image::imageops::FilterType::Triangle))
            }
            (Ok(img), Some((w, h))) => {
                let gray = !img.color().has_color();
                let chw = convlab::data::folder::to_chw(img, w, h, gray);
                let plane = (w * h) as usize;
                Ok(if gray {
                    image::GrayImage::from_raw(w, h, chw).expect("w * h").into()
                } else {
                    let hwc = (0..plane).flat_map(|i| [chw[i], chw[plane + i], chw[2 * plane + i]]);
                    image::RgbImage::from_raw(w, h, hwc.collect())
                        .expect("3 * w * h")
                        .into()
                })
            }
            (decoded, _) => decoded,
        };
        let (dims, channels, pixels) = match decoded {
            Ok(img) if img.color().has_color() => {
                let rgb = img.to_rgb8();
                (rgb.dimensions(), 3u8, rgb.into_raw())
            }
            Ok(img) => {
                let gray = img.to_luma8();
                (gray.dimensions(), 1u8, gray.into_raw())
            }
            Err(_) => ((0, 0), 0u8, Vec::new()),
        };
        w.write_all(&dims.0.to_le_bytes())?;
        w.write_all(&dims.1.to_le_bytes())?;
        w.write_all(&[channels, u8::from(own)])?;
        w.write_all(&pixels)?;
    }
    w.flush()
}

/// Seconds to decode every file, round by round: convlab's decoder, then the image crate's
/// (zune-jpeg for JPEGs), each on one thread, from bytes already in memory. Two untimed
/// rounds first, in the timed rounds' order, so that neither decoder pays for the process's
/// first touch of its memory (with one, or with the two interleaved file by file, the first
/// timed round of convlab's ran up to 30% slower, and varied).
fn time_decoders(rounds: usize, files: &[String]) -> std::io::Result<()> {
    let bytes: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    for _ in 0..2 {
        for b in &bytes {
            std::hint::black_box(convlab::data::image_files::decode_image(b).ok());
        }
        for b in &bytes {
            std::hint::black_box(image::load_from_memory(b).ok());
        }
    }
    for round in 0..rounds {
        let start = std::time::Instant::now();
        for b in &bytes {
            std::hint::black_box(convlab::data::image_files::decode_image(b).ok());
        }
        let ours = start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        for b in &bytes {
            std::hint::black_box(image::load_from_memory(b).ok());
        }
        let crate_s = start.elapsed().as_secs_f64();
        println!("round {round}: convlab {ours:.4} s, image crate {crate_s:.4} s");
    }
    Ok(())
}
