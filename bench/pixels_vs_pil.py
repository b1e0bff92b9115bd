"""Pixels convlab decodes from image files beside PIL's (what torchvision's ImageFolder and
Keras' load_img give a net), value by value; with --resize, after both have resized them.

    cargo build --release --example decode_pixels
    python3 bench/pixels_vs_pil.py FILE_OR_FOLDER... [--image-crate] [--resize WxH] [--limit N]

A folder means every .jpg/.jpeg/.png under it. A .tar.gz (CIFAR-10's JPEG archive) is
unpacked to a temporary folder first. `--image-crate` decodes with the image crate alone
(convlab before src/data/jpeg/). PIL's side: Image.open, then convert("RGB") unless the file
is gray ("L"), as torchvision's pil_loader does for RGB nets; with --resize, then
img.resize((W, H), Image.BILINEAR), which is what transforms.Resize((H, W)) runs on it.
"""
import argparse
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
from PIL import Image, features

EXAMPLE = "target/release/examples/decode_pixels"


def image_files(paths, tmp):
    out = []
    for p in paths:
        if p.endswith(".tar.gz"):
            with tarfile.open(p) as t:
                t.extractall(tmp, filter="data")
            p = tmp
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                out += [os.path.join(root, n) for n in names if n.lower().endswith((".jpg", ".jpeg", ".png"))]
        else:
            out.append(p)
    return sorted(out)


def convlab_pixels(files, image_crate, resize):
    """Run the example in chunks (argument lists have a length limit)."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        for i in range(0, len(files), 2000):
            flags = (["--image-crate"] if image_crate else []) + (["--resize", resize] if resize else [])
            subprocess.run([EXAMPLE, f.name + ".part", *flags, *files[i : i + 2000]], check=True)
            with open(f.name + ".part", "rb") as part:
                data = part.read()
            pos = 0
            while pos < len(data):
                w, h, c, own = struct.unpack_from("<IIBB", data, pos)
                pos += 10
                n = w * h * c
                yield (np.frombuffer(data, np.uint8, n, pos).reshape(h, w, c) if c else None), own
                pos += n
        os.remove(f.name + ".part")


def pil_pixels(path, resize):
    img = Image.open(path)
    img = img if img.mode == "L" else img.convert("RGB")
    if resize:
        img = img.resize(tuple(int(v) for v in resize.split("x")), Image.BILINEAR)
    a = np.asarray(img)
    return a[:, :, None] if a.ndim == 2 else a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--image-crate", action="store_true")
    ap.add_argument("--resize", help="WxH: compare after both resize to it")
    ap.add_argument("--verbose", action="store_true", help="name each file that differs")
    ap.add_argument("--limit", type=int, default=0, help="the first N files only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = image_files(args.paths, tmp)
        if args.limit:
            files = files[: args.limit]
        values = differ = worst = files_differ = unread = own_files = pil_fails = 0
        for path, (ours, own) in zip(files, convlab_pixels(files, args.image_crate, args.resize)):
            own_files += own
            try:
                ref = pil_pixels(path, args.resize)
            except OSError as e:
                # Only a file PIL cannot read either, which convlab's decoder must leave alone.
                pil_fails += 1
                print(f"{path}: PIL: {e}; convlab: {'its decoder read it' if own else 'left to the image crate'}")
                continue
            if ours is None or ours.shape != ref.shape:
                unread += 1
                print(f"{path}: convlab {None if ours is None else ours.shape}, PIL {ref.shape}")
                continue
            d = np.abs(ours.astype(int) - ref.astype(int))
            values += d.size
            differ += int((d > 0).sum())
            worst = max(worst, int(d.max()))
            files_differ += int(d.max() > 0)
            if d.max() > 0 and args.verbose:
                print(f"{path}: {int((d > 0).sum())} values differ, max {int(d.max())}, "
                      f"{'convlab' if own else 'image crate'} decoded it")
    side = "image crate" if args.image_crate else "convlab"
    print(f"{side} vs PIL {Image.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}): "
          f"{len(files)} files ({own_files} by src/data/jpeg/, the rest by the image crate), {files_differ} with a different value, {unread} unread or of another shape; "
          f"{pil_fails} PIL cannot read; {differ} of {values} values differ ({100 * differ / max(values, 1):.3f}%), max |diff| {worst}")
    sys.exit(1 if differ or unread else 0)


if __name__ == "__main__":
    main()
