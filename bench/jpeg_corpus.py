"""JPEGs of every kind convlab's decoder reads and of the kinds it leaves to the image crate,
written by PIL and by libjpeg-turbo's cjpeg, for bench/pixels_vs_pil.py.

    apt-get install -y libjpeg-turbo-progs   # cjpeg
    python3 bench/jpeg_corpus.py /tmp/jpegs && python3 bench/pixels_vs_pil.py /tmp/jpegs --verbose

Sources are synthetic (seeded): smooth colour gradients, noise and hard edges, at sizes from
1x1 to 333x251, odd and even, so that partial blocks and MCUs and the upsampler's edges occur.
"""
import itertools
import os
import subprocess
import sys

import numpy as np
from PIL import Image

SIZES = [(1, 1), (2, 2), (3, 5), (7, 9), (8, 8), (15, 17), (16, 16), (17, 33), (31, 29),
         (32, 32), (33, 47), (64, 48), (101, 77), (333, 251)]


def source(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([
        128 + 100 * np.sin(x / 7 + seed) * np.cos(y / 5),
        255 * x / max(w - 1, 1),
        255 * ((x // 5 + y // 3) % 2),
    ], -1) + rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def main(out):
    os.makedirs(out, exist_ok=True)
    pil_kinds = [
        dict(subsampling=s, quality=q) for s, q in itertools.product([0, 1, 2], [5, 50, 75, 95, 100])
    ] + [
        dict(quality=85, optimize=True),
        dict(quality=85, progressive=True),
        dict(quality=95, progressive=True, subsampling=0),
        dict(quality=60, progressive=True, subsampling=1, optimize=True),
        dict(quality=85, restart_marker_blocks=3),
        dict(quality=85, restart_marker_rows=1),
        dict(quality=85, gray=True),
    ]
    cjpeg_kinds = [["-sample", s] for s in ["1x1", "2x1", "1x2", "2x2", "4x1", "1x4", "4x2", "2x4",
                                              "4x4", "3x1", "2x1,1x2,1x1", "1x2,2x1,1x1", "1x1,2x2,2x2",
                                              "3x2,1x1,1x1", "3x1,2x1,1x1"]]
    cjpeg_kinds += [["-restart", "1"], ["-restart", "2B", "-sample", "2x2"], ["-optimize"],
                    ["-grayscale"], ["-grayscale", "-sample", "2x2"], ["-quality", "1"],
                    ["-quality", "100", "-sample", "1x1"], ["-dct", "float"],
                    ["-progressive"], ["-progressive", "-restart", "1"], ["-progressive", "-grayscale"],
                    ["-progressive", "-sample", "1x2"], ["-progressive", "-rgb"], ["-rgb"],
                    ["-arithmetic"]]
    n = 0
    for (w, h), seed in zip(SIZES, itertools.count()):
        img = source(w, h, seed)
        for i, kind in enumerate(pil_kinds):
            kind = dict(kind)
            im = img.convert("L") if kind.pop("gray", False) else img
            im.save(f"{out}/{w}x{h}-pil{i:02}.jpg", **kind)
            n += 1
        img.save(f"{out}/src.ppm")
        for i, args in enumerate(cjpeg_kinds):
            with open(f"{out}/{w}x{h}-cjpeg{i:02}.jpg", "wb") as f:
                r = subprocess.run(["cjpeg", *args, f"{out}/src.ppm"], stdout=f, stderr=subprocess.PIPE)
            if r.returncode:
                # cjpeg refuses some samplings at some sizes; say so and go on.
                print(f"cjpeg {' '.join(args)} at {w}x{h}: {r.stderr.decode().strip()}")
                os.remove(f"{out}/{w}x{h}-cjpeg{i:02}.jpg")
            else:
                n += 1
        os.remove(f"{out}/src.ppm")
    print(f"{n} JPEGs in {out}")


if __name__ == "__main__":
    main(sys.argv[1])
