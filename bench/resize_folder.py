"""Copy an image folder with every image resized, as a user's photos of another size would be
(README, "Fine-tuning beats training from scratch on a small folder", "Photos of another size").

    python3 bench/resize_folder.py catdog catdog-96 --size 96

then, beside `convlab finetune ... --data catdog`:

    convlab finetune --checkpoint runs/base --data catdog-96 --epochs 10 --freeze-epochs 2 --set seed=N
"""
import argparse
import os

from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("src")
p.add_argument("dst")
p.add_argument("--size", type=int, default=96, help="side of the square output, pixels")
a = p.parse_args()
n = 0
for root, _, files in os.walk(a.src):
    for f in sorted(files):
        src = os.path.join(root, f)
        dst = os.path.join(a.dst, os.path.relpath(src, a.src))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        Image.open(src).convert("RGB").resize((a.size, a.size), Image.BICUBIC).save(dst, quality=95)
        n += 1
print(f"{n} images -> {a.dst} at {a.size}x{a.size}")
