"""`convlab predict` on your own image files beside PyTorch's usual preprocessing of them.

    python3 bench/predict_vs_pytorch.py RUN_DIR IMAGES [--convlab target/release/convlab]
    # needs: pip install torch torchvision pillow numpy

RUN_DIR is a run folder (its best.ckpt), IMAGES a folder of images of any size and format.
The checkpoint is exported (`convlab export --format pytorch`) and every image is given to
both sides: `convlab predict --json --logits`, and PyTorch as torchvision users write it,
PIL's Image.open -> convert("L" or "RGB") -> transforms.Resize((H, W)) (bilinear with
antialias, on the PIL image) -> ToTensor -> Normalize(MEAN, STD). Prints the largest and the
median difference of the logits and how many images get another top-1 class; then the same
after each image is decoded by PIL and saved as PNG, which leaves out the two JPEG decoders
(since 2026-12-07 convlab's gives PIL's pixels, so both lines read the same; before, it was
zune-jpeg against PIL's libjpeg-turbo).
"""
import argparse, json, os, subprocess, tempfile

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image


def convlab_logits(exe, ckpt, folder):
    out = subprocess.run([exe, "predict", "--checkpoint", ckpt, folder, "--json", "--logits"],
                         check=True, capture_output=True, text=True).stdout
    return {os.path.relpath(p["file"], folder): np.array(p["logits"]) for p in json.loads(out)}


def pytorch_logits(net, mean, std, shape, folder, files):
    c, h, w = shape
    steps = [T.Resize((h, w)), T.ToTensor()] + ([T.Normalize(mean, std)] if mean else [])
    tf = T.Compose(steps)
    xs = [tf(Image.open(os.path.join(folder, f)).convert("L" if c == 1 else "RGB")) for f in files]
    with torch.no_grad():
        return net(torch.stack(xs)).numpy()


def compare(label, exe, ckpt, net, mean, std, shape, folder):
    ours = convlab_logits(exe, ckpt, folder)
    files = sorted(ours)
    theirs = pytorch_logits(net, mean, std, shape, folder, files)
    mine = np.stack([ours[f] for f in files])
    diff = np.abs(mine - theirs).max(axis=1)
    flips = int((mine.argmax(1) != theirs.argmax(1)).sum())
    print(f"{label}: {len(files)} images, |logit difference| largest {diff.max():.2e}, "
          f"median {np.median(diff):.2e}; another top-1 class on {flips}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("images")
    ap.add_argument("--convlab", default="target/release/convlab")
    a = ap.parse_args()
    ckpt = os.path.join(a.run, "best.ckpt")
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "net.pth")
        subprocess.run([a.convlab, "export", ckpt, "--format", "pytorch", "--out", pth],
                       check=True, capture_output=True)
        code = {}
        exec(open(pth[:-4] + ".py").read(), code)
        net = code["make_net"]()
        net.load_state_dict(torch.load(pth))
        net.eval()
        # The input shape, from `convlab summary`'s first line: "...: trained net (epoch N),
        # input 3x32x32, 10 classes (...)".
        first = subprocess.run([a.convlab, "summary", ckpt], check=True, capture_output=True,
                               text=True).stdout.splitlines()[0]
        shape = [int(v) for v in first.split("input ")[1].split(",")[0].split("x")]
        mean, std = code["MEAN"], code["STD"]
        compare("as they are", a.convlab, ckpt, net, mean, std, shape, a.images)
        pngs = os.path.join(tmp, "png")
        for root, _, names in os.walk(a.images):
            for n in names:
                try:
                    im = Image.open(os.path.join(root, n))
                    im.load()
                except OSError:
                    continue
                rel = os.path.relpath(os.path.join(root, n), a.images)
                dest = os.path.join(pngs, os.path.splitext(rel)[0] + ".png")
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                im.save(dest)
        compare("decoded by PIL, as PNG", a.convlab, ckpt, net, mean, std, shape, pngs)


if __name__ == "__main__":
    main()
