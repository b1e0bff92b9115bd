"""Seconds to decode image files: convlab's decoder (src/data/jpeg/, PIL's exact pixels),
the image crate's (zune-jpeg, convlab's before 2026-12-07) and PIL's own (libjpeg-turbo),
round by round on one thread from bytes in memory, interleaved so that the machine's noise
falls on all three, after one untimed pass of each.

    cargo build --release --example decode_pixels
    python3 bench/decode_speed.py FILE_OR_FOLDER... [--rounds 5] [--limit N]

A folder means every .jpg/.jpeg/.png under it, a .tar.gz its files unpacked (as
bench/pixels_vs_pil.py reads them).
PIL's side is what torchvision's pil_loader runs: Image.open, then convert("RGB") (or "L"
for a gray file), which decodes. Each round prints milliseconds per image; the end, the
median and range over rounds and convlab's median over PIL's and the image crate's.
"""
import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

from pixels_vs_pil import image_files

EXAMPLE = "target/release/examples/decode_pixels"


def pil_seconds(blobs):
    start = time.perf_counter()
    for b in blobs:
        img = Image.open(io.BytesIO(b))
        img.convert("L" if img.mode == "L" else "RGB")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    files = image_files(args.paths, tmp.name)
    if args.limit:
        files = files[: args.limit]
    if not files:
        sys.exit("no image files under " + " ".join(args.paths))
    blobs = [open(f, "rb").read() for f in files]
    n = len(files)
    pil_seconds(blobs)  # untimed, as the example's first pass
    times = {"convlab": [], "image crate": [], "PIL": []}
    for r in range(args.rounds):
        out = subprocess.run([EXAMPLE, "--time", "1", *files], check=True, capture_output=True, text=True).stdout
        # "round 0: convlab S s, image crate S s"
        parts = out.split(":")[1].split(",")
        times["convlab"].append(float(parts[0].split()[1]))
        times["image crate"].append(float(parts[1].split()[2]))
        times["PIL"].append(pil_seconds(blobs))
        print(f"round {r}: " + ", ".join(f"{k} {1e3 * v[-1] / n:.3f} ms" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{n} files, {args.rounds} rounds, ms per image, median (min-max):")
    for k, v in times.items():
        print(f"  {k}: {1e3 * med[k] / n:.3f} ({1e3 * min(v) / n:.3f}-{1e3 * max(v) / n:.3f})")
    print(f"convlab / PIL {med['convlab'] / med['PIL']:.2f}, convlab / image crate {med['convlab'] / med['image crate']:.2f}")


if __name__ == "__main__":
    main()
