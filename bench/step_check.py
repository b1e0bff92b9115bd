"""One training step of examples/cifar10-fast.toml from a trained net, convlab against PyTorch,
on one real augmented batch of a convlab run: the gradients at the states a full run goes
through, which the parity checks (bench/parity_fast.py: near the start, unaugmented, 10
steps) do not reach.

    python3 bench/step_check.py --net /tmp/fast-s2.pth --net /tmp/replay-s2/final.pth \\
      --draws /tmp/replay-s2/draws.bin --epoch 9 --batch 20 --pixels ~/.cache/convlab/cifar10-*.bin
    # needs: a built target/release/convlab (or CONVLAB=path); torch, numpy, pillow

Each --net (a state_dict of the recipe's net: `convlab export --format pytorch`, or the
twin's `pytorch_fast.py --save`) is imported into convlab, which trains it one step on the
batch (written as PNG, so both read the same pixels) with plain SGD at lr --lr: no momentum,
weight decay, lookahead or 64x shift gradient, train-mode batch norm, label smoothing 0.2.
PyTorch takes the same step, in float32 and in float64. Per tensor: the relative RMS of
(convlab's step - float32 PyTorch's step) and of (float32 - float64 PyTorch), so convlab's
difference is read against float32's own rounding. A large --lr makes the step dominate the
weights, so the exported weights carry the gradient to f32 precision.
"""
import argparse, csv, os, subprocess, sys, tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import pytorch_fast as pf  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAINED = ("0.bias", "2.weight", "4.bias", "6.weight", "7.bias", "9.weight", "11.bias", "13.weight", "14.bias",
           "16.weight", "18.bias", "20.weight", "21.bias", "25.weight")


def batch_pixels(pixels, draws, epoch, batch):
    """Batch `batch` of epoch `epoch` of a convlab run as uint8 NCHW with its shifts and flips
    applied (the twin's indexing, on bytes: normalization is per pixel, so it commutes)."""
    (xtr, ytr), _ = pf.load_convlab_cache(pixels)
    order, dy, dx, flip = pf.read_draws(draws, len(xtr), epoch + 1)[epoch]
    part = slice(batch * pf.BATCH, (batch + 1) * pf.BATCH)
    idx, dy, dx, flip = order[part], dy[part] + 2, dx[part] + 2, flip[part]
    padded = F.pad(xtr[idx].float(), (2,) * 4, mode="reflect").to(torch.uint8)
    rows = torch.arange(32)[None, :] + dy[:, None]
    cols = torch.arange(32)[None, :] + dx[:, None]
    n = len(idx)
    x = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x, ytr[idx], xtr


def write_folder(root, x, y):
    """train/<class>/NNNN.png in batch order (convlab reads a class's files sorted by name),
    and a few test images; returns the order convlab will read the training images in."""
    for i, (img, label) in enumerate(zip(x, y)):
        d = os.path.join(root, "train", CLASSES[label])
        os.makedirs(d, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(os.path.join(d, f"{i:04d}.png"))
    for c, name in enumerate(CLASSES):
        d = os.path.join(root, "test", name)
        os.makedirs(d, exist_ok=True)
        Image.fromarray(x[0].permute(1, 2, 0).numpy()).save(os.path.join(d, "0.png"))
    return sorted(range(len(y)), key=lambda i: (int(y[i]), i))


def torch_step(state, x, y, lr, dtype):
    net = pf.make_net().to(dtype)
    net.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()})
    net.train()
    loss = F.cross_entropy(net(x.to(dtype)) / 9, y, label_smoothing=pf.SMOOTHING)
    loss.backward()
    with torch.no_grad():
        params = dict(net.named_parameters())
        out = {k: (params[k] - lr * params[k].grad) for k in TRAINED}
    return loss.item(), out


def convlab_step(tmp, pth, root, mean, std, lr):
    bin_ = os.environ.get("CONVLAB", "target/release/convlab")
    ckpt, run = f"{tmp}/net.ckpt", f"{tmp}/run"
    stats = ["--mean", ",".join(repr(v) for v in mean), "--std", ",".join(repr(v) for v in std)]
    subprocess.run([bin_, "import", "--config", "examples/cifar10-fast.toml", "--dataset", "cifar10", *stats, "-o", ckpt, "--force", pth],
                   check=True, stdout=subprocess.DEVNULL)
    sets = ["data.dataset=\"folder\"", f"data.path=\"{root}\"", "data.crop_padding=0", "data.hflip=false",
            "data.hflip_alternate=false", "data.shuffle=false", "train.epochs=1", "train.batch_size=1024",
            "train.chance_epochs=0", f"model.pretrained=\"{ckpt}\"", f"optimizer.lr={lr}", "optimizer.momentum=0.0",
            "optimizer.nesterov=false", "optimizer.weight_decay=0.0", "optimizer.bn_bias_lr_scale=1.0",
            "schedule.name=\"constant\"", "train.lookahead_every=0"]
    subprocess.run([bin_, "train", "examples/cifar10-fast.toml", "--quiet", "--run-dir", run] + [a for s in sets for a in ("--set", s)],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([bin_, "export", "--format", "pytorch", f"{run}/last.ckpt", "-o", f"{tmp}/after.pth", "--force"], check=True, stdout=subprocess.DEVNULL)
    with open(f"{run}/metrics.csv") as f:
        loss = float(next(csv.DictReader(f))["train_loss"])
    subprocess.run(["rm", "-rf", run])
    return loss, torch.load(f"{tmp}/after.pth")


def rms(a, b, ref):
    """|a - b| / |ref|, in float64."""
    return float((a.double() - b.double()).norm() / ref.norm())


def along(err, w, step):
    """The error's component along the weights, over |step|: > 0 grows them, < 0 shrinks them
    (as extra weight decay would)."""
    return float((err * w).sum() / w.norm() / step.norm()) if w.norm() > 0 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", action="append", required=True, help="a state_dict of the recipe's net (repeatable)")
    ap.add_argument("--draws", required=True, help="a convlab run's draws (bench/draws.rs)")
    ap.add_argument("--pixels", required=True, help="convlab's decoded CIFAR-10 cache")
    ap.add_argument("--epoch", type=int, default=9, help="0-based")
    ap.add_argument("--batch", type=int, default=20, help="0-based (the last, 49th, is partial: 848 images)")
    ap.add_argument("--lr", type=float, default=100.0)
    a = ap.parse_args()
    x8, y, xtr = batch_pixels(a.pixels, a.draws, a.epoch, a.batch)
    train = xtr.float() / 255
    mean, std = train.mean((0, 2, 3)), train.std((0, 2, 3))
    del train, xtr
    with tempfile.TemporaryDirectory() as tmp:
        order = write_folder(f"{tmp}/data", x8, y)
        x8, y = x8[order], y[order]
        x = (x8.float() / 255 - mean[None, :, None, None]) / std[None, :, None, None]
        for pth in a.net:
            state = torch.load(pth)
            loss_c, after_c = convlab_step(tmp, pth, f"{tmp}/data", mean.tolist(), std.tolist(), a.lr)
            loss_32, after_32 = torch_step(state, x, y, a.lr, torch.float32)
            loss_64, after_64 = torch_step(state, x, y, a.lr, torch.float64)
            print(f"{pth}: epoch {a.epoch + 1} batch {a.batch + 1}, loss convlab {loss_c:.6f} float32 {loss_32:.6f} float64 {loss_64:.6f}")
            print(f"  {'tensor':10s} {'|step| / |w|':>12s} {'convlab vs f32':>15s} {'f32 vs f64':>11s} {'convlab vs f64':>15s}"
                  f" {'along w: convlab':>17s} {'f32':>9s}")
            for k in TRAINED:
                w = state[k].double()
                step = w - after_64[k]
                c, t32, t64 = (after[k].double() - w for after in (after_c, after_32, after_64))
                print(f"  {k:10s} {float(step.norm() / w.norm()):12.3e} "
                      f"{rms(c, t32, step):15.2e} {rms(t32, t64, step):11.2e} {rms(c, t64, step):15.2e}"
                      f" {along(c - t64, w, step):17.2e} {along(t32 - t64, w, step):9.2e}")


if __name__ == "__main__":
    main()
