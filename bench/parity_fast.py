"""Step-for-step parity of examples/cifar10-fast.toml with its PyTorch twin (bench/pytorch_fast.py),
llm.c style: the same starting weights (PyTorch's, imported), the same images, one full-batch
step per epoch (or `--batch N`: mini-batches in the dataset's order, `data.shuffle = false`)
and no augmentation, so every epoch's training loss and test loss must agree to float noise. Any difference in the recipe (Nesterov, the 64x batch-norm shift gradient, weight
decay, the linear one-cycle, whitening-bias freezing, lookahead with the running statistics,
batch-norm momentum and eps, the logit scale, label smoothing, flip + shift TTA) shows up as a
gap far above that.

    python3 bench/parity_fast.py                      # 1,024 train / 500 test CIFAR-10 images
    python3 bench/parity_fast.py --train 512 --epochs 6
    python3 bench/parity_fast.py --train 1000 --batch 256      # 4 steps an epoch, the last partial
    # needs: pip install torch numpy pillow; a built target/release/convlab (or CONVLAB=path)
"""
import argparse, csv, io, json, os, subprocess, sys, tarfile, tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import pytorch_fast as pf  # noqa: E402


def pick(path, n_train, n_test):
    """n images per split, evenly spaced over the class-sorted archive, as (name, class, pixels)."""
    files = []
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".jpg"):
                files.append((m.name, tar.extractfile(m).read()))
    files.sort()
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        names = [f for f in files if f[0].split("/")[-3] == split]
        keep = [names[i * len(names) // n] for i in range(n)]
        out[split] = [(name, name.split("/")[-2], np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))) for name, data in keep]
    return out


def write_folder(root, picked):
    """Lossless PNGs, so both sides read the same pixels."""
    for split, items in picked.items():
        for name, cls, pixels in items:
            d = os.path.join(root, split, cls)
            os.makedirs(d, exist_ok=True)
            Image.fromarray(pixels).save(os.path.join(d, os.path.basename(name)[:-4] + ".png"))


def tensors(items, classes):
    x = torch.tensor(np.stack([p for _, _, p in items])).permute(0, 3, 1, 2).float() / 255
    return x, torch.tensor([classes.index(c) for _, c, _ in items])


def pytorch_side(net, xtr, ytr, xte, yte, epochs, batch):
    """bench/pytorch_fast.py's loop, its batches in order and not augmented."""
    pf.EPOCHS = epochs
    steps = -(-len(xtr) // batch)
    bn_biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    others = [p for p in net.parameters() if p.requires_grad and all(p is not b for b in bn_biases)]
    opt = torch.optim.SGD([dict(params=others), dict(params=bn_biases, lr=pf.LR * pf.BIAS_SCALE, weight_decay=pf.WD / pf.BIAS_SCALE)],
                          lr=pf.LR, momentum=pf.MOMENTUM, nesterov=True, weight_decay=pf.WD)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[pf.LR, pf.LR * pf.BIAS_SCALE], total_steps=epochs * steps, pct_start=0.23,
                                                anneal_strategy="linear", div_factor=5.0, final_div_factor=1 / 0.35,
                                                cycle_momentum=False)
    average = [t.detach().clone() for t in net.state_dict().values() if t.dtype.is_floating_point]
    rows = []
    for epoch in range(epochs):
        net[0].bias.requires_grad = epoch < pf.WHITEN_BIAS_EPOCHS
        net.train()
        loss_sum = correct = 0.0
        for step in range(steps):
            x, y = xtr[step * batch:(step + 1) * batch], ytr[step * batch:(step + 1) * batch]
            out = net(x) / 9
            loss = F.cross_entropy(out, y, label_smoothing=pf.SMOOTHING)
            loss_sum += loss.item() * len(y)  # as convlab's metrics.csv: the mean over the epoch's images
            correct += (out.argmax(1) == y).sum().item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            pf.lookahead(net, average, epoch * steps + step + 1, epochs * steps)
        net.eval()
        with torch.no_grad():
            logits = pf.tta_logits(torch.nn.Sequential(net, pf.Scale()), xte)
        rows.append(dict(train_loss=loss_sum / len(ytr), train_acc=correct / len(ytr), test_loss=F.cross_entropy(logits, yte).item(),
                         test_acc=(logits.argmax(1) == yte).float().mean().item()))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("CONVLAB_DATA", "../shared/datasets"))
    ap.add_argument("--train", type=int, default=1024)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=0, help="mini-batch size (0: the whole training set)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=pf.LR, help="a lower one makes the runs less chaotic")
    ap.add_argument("--lookahead-every", type=int, default=pf.LOOKAHEAD_EVERY, help="0: off")
    a = ap.parse_args()
    pf.LR, pf.LOOKAHEAD_EVERY = a.lr, a.lookahead_every
    batch = a.batch or a.train
    convlab = os.environ.get("CONVLAB", "target/release/convlab")
    torch.manual_seed(a.seed)
    picked = pick(os.path.join(a.data_dir, "cifar10", "cifar10-jpeg.tar.gz"), a.train, a.test)
    classes = sorted({c for _, c, _ in picked["train"]})
    xtr, ytr = tensors(picked["train"], classes)
    xte, yte = tensors(picked["test"], classes)
    mean, std = xtr.mean((0, 2, 3)), xtr.std((0, 2, 3))
    norm = lambda x: (x - mean[None, :, None, None]) / std[None, :, None, None]  # noqa: E731
    xtr, xte = norm(xtr), norm(xte)

    net = pf.make_net()
    pf.whiten_(net[0], xtr[torch.arange(min(5000, len(xtr))) * len(xtr) // min(5000, len(xtr))])
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "data")
        write_folder(root, picked)
        torch.save(net.state_dict(), os.path.join(tmp, "start.pth"))
        overrides = ["data.dataset=\"folder\"", f"data.path=\"{root}\"", "data.crop_padding=0", "data.hflip=false", "data.hflip_alternate=false",
                     f"train.epochs={a.epochs}", f"train.batch_size={batch}", "data.shuffle=false", "train.test_every_epoch=true", "train.chance_epochs=0",
                     f"model.pretrained=\"{tmp}/start.ckpt\"", f"seed={a.seed}",
                     f"optimizer.lr={a.lr}", f"schedule.max_lr={a.lr}", f"train.lookahead_every={a.lookahead_every}"]
        sets = [x for o in overrides for x in ("--set", o)]
        subprocess.run([convlab, "import", "--config", "examples/cifar10-fast.toml", "--dataset", "cifar10",
                        "--mean", ",".join(repr(v) for v in mean.tolist()), "--std", ",".join(repr(v) for v in std.tolist()),
                        "-o", f"{tmp}/start.ckpt", f"{tmp}/start.pth"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([convlab, "train", "examples/cifar10-fast.toml", "--quiet", "--run-dir", f"{tmp}/run"] + sets,
                       check=True, stdout=subprocess.DEVNULL)
        with open(f"{tmp}/run/metrics.csv") as f:
            ours = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]
    theirs = pytorch_side(net, xtr, ytr, xte, yte, a.epochs, batch)
    print("| epoch | train loss convlab | PyTorch | test loss (TTA) convlab | PyTorch | test acc convlab | PyTorch |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for e, (o, t) in enumerate(zip(ours, theirs), 1):
        worst = max(worst, abs(o["train_loss"] - t["train_loss"]), abs(o["test_loss"] - t["test_loss"]))
        print(f"| {e} | {o['train_loss']:.6f} | {t['train_loss']:.6f} | {o['test_loss']:.6f} | {t['test_loss']:.6f} "
              f"| {o['test_acc'] * 100:.2f} | {t['test_acc'] * 100:.2f} |")
    print(json.dumps({"train": a.train, "test": a.test, "batch": batch, "epochs": a.epochs, "max_loss_gap": worst}))


if __name__ == "__main__":
    main()
