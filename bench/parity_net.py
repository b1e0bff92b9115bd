"""Step-for-step parity of any MNIST, Fashion-MNIST or CIFAR-10 run config's net and
optimizer with PyTorch, llm.c style: the same starting weights (PyTorch's init, imported),
the same images in the same order (one seeded shuffle, written as MNIST's IDX files or
CIFAR-10's binary batches, which convlab reads in that order with `data.shuffle = false`; no
validation split, no augmentation). Every epoch's training and test loss is printed beside
PyTorch's in float32 and in float64 from the same start: convlab's distance to the float64
run should be that of float32 PyTorch's own rounding, and a wrong gradient or optimizer step
shows up as a gap far above it. `--train N --batch N` makes each epoch one full-batch step,
so the first row is the first forward pass. bench/parity_fast.py does this for the fast
recipe's own loop; this one runs `torch.optim` by the config's optimizer name and lr.

    python3 bench/parity_net.py bench/nets/strided-cnn.toml
    python3 bench/parity_net.py bench/nets/cifar-k5.toml --train 2048 --epochs 8 --batch 64
    python3 bench/parity_net.py examples/cifar10-bn-prelu.toml --set model.dropout=0
    python3 bench/parity_net.py bench/nets/lenet5.toml --set optimizer.name='"radam"'
    python3 bench/parity_net.py bench/nets/strided-cnn.toml --train 128 --batch 128 --epochs 12
    python3 bench/parity_net.py bench/nets/strided-cnn.toml --seed 1 --jitter 8
    # needs: pip install torch numpy pillow; a built target/release/convlab (or CONVLAB=path)

Dropout masks cannot match: a net with dropout gets a warning; set its p to 0 in a copy of
the config (or `--set model.dropout=0` for a preset) to compare the rest. Optimizers: adam,
adamw, sgd and sgd-momentum (momentum, nesterov), rmsprop, adagrad, adadelta, adamax, nadam,
radam, with the config's weight_decay, betas, eps, alpha, rho, amsgrad, momentum_decay and
RMSprop momentum where it sets them, else PyTorch's defaults (convlab's as well); no
schedule (the config's is replaced by a constant lr).

The runs are chaotic: after a few epochs of a net overfitting a few thousand images, float32
rounding alone moves the test loss by up to 0.1. `--jitter K` measures that spread: K more
float32 PyTorch runs, each from the same start with a random half of the weights moved one
ulp, and where convlab's last-epoch gap to float64 falls among them.
"""
import argparse, copy, csv, gzip, json, os, subprocess, sys, tempfile, tomllib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_fast import pick  # noqa: E402
from pytorch_epoch import mnist  # noqa: E402
from seed_nets import net_from_py  # noqa: E402

# convlab's optimizer.name as torch.optim, PyTorch's defaults but the lr (convlab's as well).
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "sgd-momentum": torch.optim.SGD, "adamw": torch.optim.AdamW,
              "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta,
              "adamax": torch.optim.Adamax, "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def images(dataset, data_dir, n_train, n_test):
    """n images per split, evenly spaced, as uint8 (N, C, H, W) arrays and labels."""
    if dataset in ("mnist", "fashion-mnist"):
        folder = os.path.join(data_dir, dataset)
        if not os.path.isdir(folder):  # Debian's dataset-fashion-mnist
            folder = os.path.join("/usr/share/datasets", dataset)
        xtr, ytr, xte, yte = mnist(folder)
        every = lambda x, n: x[[i * len(x) // n for i in range(n)]]  # noqa: E731
        return every(xtr, n_train), every(ytr, n_train), every(xte, n_test), every(yte, n_test)
    picked = pick(os.path.join(data_dir, "cifar10", "cifar10-jpeg.tar.gz"), n_train, n_test)
    arrays = lambda items: (np.stack([p.transpose(2, 0, 1) for _, _, p in items]),  # noqa: E731
                            np.array([CIFAR10.index(c) for _, c, _ in items], np.uint8))
    return (*arrays(picked["train"]), *arrays(picked["test"]))


def write_source(dataset, root, xtr, ytr, xte, yte):
    """The images in order as the official files: MNIST's IDX (gzipped), or CIFAR-10's binary
    batches (a label byte, then the R, G and B planes; the training images over five files)."""
    if dataset in ("mnist", "fashion-mnist"):
        root = os.path.join(root, dataset)
        os.makedirs(root)
        for split, x, y in (("train", xtr, ytr), ("t10k", xte, yte)):
            with gzip.open(os.path.join(root, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
                f.write(np.array([0x803, len(x), 28, 28], ">u4").tobytes() + x.tobytes())
            with gzip.open(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
                f.write(np.array([0x801, len(y)], ">u4").tobytes() + y.astype(np.uint8).tobytes())
        return
    root = os.path.join(root, "cifar10", "cifar-10-batches-bin")
    os.makedirs(root)
    record = lambda x, y: bytes([int(y)]) + x.tobytes()  # noqa: E731
    for k, part in enumerate(np.array_split(np.arange(len(xtr)), 5), 1):
        with open(os.path.join(root, f"data_batch_{k}.bin"), "wb") as f:
            f.write(b"".join(record(xtr[i], ytr[i]) for i in part))
    with open(os.path.join(root, "test_batch.bin"), "wb") as f:
        f.write(b"".join(record(x, y) for x, y in zip(xte, yte)))


def pytorch_side(net, opt, xtr, ytr, xte, yte, epochs, batch):
    rows = []
    for _ in range(epochs):
        net.train()
        loss_sum = 0.0
        for i in range(0, len(xtr), batch):
            x, y = xtr[i:i + batch], ytr[i:i + batch]
            loss = F.cross_entropy(net(x), y)
            loss_sum += loss.item() * len(y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            logits = net(xte)
        rows.append(dict(train_loss=loss_sum / len(ytr), test_loss=F.cross_entropy(logits, yte).item(),
                         test_acc=(logits.argmax(1) == yte).float().mean().item()))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--data-dir", default=os.environ.get("CONVLAB_DATA", "../shared/datasets"))
    ap.add_argument("--train", type=int, default=2048)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=0, help="default: the config's train.batch_size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=int, default=0, metavar="K",
                    help="K more float32 PyTorch runs, each from the start weights with a random half moved one ulp: "
                         "the spread of the gap to float64 that rounding alone makes")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a convlab override (the exported net follows it)")
    a = ap.parse_args()
    cfg = tomllib.load(open(a.config, "rb"))
    opt_cfg = cfg.get("optimizer", {})
    dataset = cfg.get("data", {}).get("dataset", "mnist")
    for kv in a.set:  # the keys this script reads, as convlab reads them
        key, value = kv.split("=", 1)
        value = tomllib.loads(f"v = {value}")["v"]
        if key.startswith("optimizer."):
            opt_cfg[key.split(".", 1)[1]] = value
        elif key == "data.dataset":
            dataset = value
    name, lr = opt_cfg.get("name", "adam"), opt_cfg.get("lr", 1e-3)
    kwargs = {"weight_decay": opt_cfg.get("weight_decay", 0.0) or (0.01 if name == "adamw" else 0.0)}  # convlab's default, as torch's
    if name.startswith("sgd"):
        momentum = opt_cfg.get("momentum", 0.0) or (0.9 if name == "sgd-momentum" else 0.0)
        kwargs.update(momentum=momentum, nesterov=opt_cfg.get("nesterov", False))
    # The config's own values of the other keys torch.optim takes (convlab's names).
    if name in ("adam", "adamw", "adamax", "nadam", "radam") and ("beta1" in opt_cfg or "beta2" in opt_cfg):
        kwargs["betas"] = (opt_cfg.get("beta1", 0.9), opt_cfg.get("beta2", 0.999))
    for ours, theirs, takes in (("eps", "eps", name not in ("sgd", "sgd-momentum")), ("alpha", "alpha", name == "rmsprop"),
                                ("rho", "rho", name == "adadelta"), ("amsgrad", "amsgrad", name in ("adam", "adamw")),
                                ("momentum_decay", "momentum_decay", name == "nadam"), ("momentum", "momentum", name == "rmsprop")):
        if takes and ours in opt_cfg:
            kwargs[theirs] = opt_cfg[ours]
    batch = a.batch or cfg.get("train", {}).get("batch_size", 64)
    convlab = os.environ.get("CONVLAB", "target/release/convlab")
    if dataset not in ("mnist", "fashion-mnist", "cifar10"):
        raise SystemExit(f"data.dataset {dataset!r}: this check reads mnist, fashion-mnist or cifar10")
    xtr8, ytr8, xte8, yte8 = images(dataset, a.data_dir, a.train, a.test)
    order = np.random.default_rng(a.seed).permutation(len(xtr8))
    xtr8, ytr8 = xtr8[order], ytr8[order]
    tensor = lambda x: torch.tensor(x, dtype=torch.float32) / 255  # noqa: E731
    xtr, ytr, xte, yte = tensor(xtr8), torch.tensor(ytr8, dtype=torch.long), tensor(xte8), torch.tensor(yte8, dtype=torch.long)
    mean, std = xtr.mean((0, 2, 3)), xtr.std((0, 2, 3))
    norm = lambda x: (x - mean[None, :, None, None]) / std[None, :, None, None]  # noqa: E731
    xtr, xte = norm(xtr), norm(xte)
    with tempfile.TemporaryDirectory() as tmp:
        write_source(dataset, os.path.join(tmp, "data"), xtr8, ytr8, xte8, yte8)
        os.environ["CONVLAB_CACHE"] = os.path.join(tmp, "cache")  # not the user's cache
        base = [f"data.dataset=\"{dataset}\"", "data.val_fraction=0", "data.shuffle=false",
                "train.chance_epochs=0", f"train.batch_size={batch}", f"seed={a.seed}", "schedule.name=\"constant\""] + a.set
        sets = lambda extra: [x for o in base + extra for x in ("--set", o)]  # noqa: E731
        # A one-epoch run of the config, only for the PyTorch code of its net.
        subprocess.run([convlab, "train", a.config, "--quiet", "--data-dir", f"{tmp}/data", "--run-dir", f"{tmp}/shape"] + sets(["train.epochs=1"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([convlab, "export", "--format", "pytorch", f"{tmp}/shape/last.ckpt", "-o", f"{tmp}/net.pth"],
                       check=True, stdout=subprocess.DEVNULL)
        torch.manual_seed(a.seed)
        net = net_from_py(f"{tmp}/net.py")()
        dropped = [m for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
        if dropped:
            print(f"warning: {a.config} has dropout ({dropped[0]}): its masks differ between the runs, so "
                  "the losses do too; set p = 0 to compare the rest", file=sys.stderr)
        torch.save(net.state_dict(), f"{tmp}/start.pth")
        subprocess.run([convlab, "import", "--like", f"{tmp}/shape/last.ckpt",
                        "--mean", ",".join(repr(v) for v in mean.tolist()), "--std", ",".join(repr(v) for v in std.tolist()),
                        "-o", f"{tmp}/start.ckpt", f"{tmp}/start.pth"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([convlab, "train", a.config, "--quiet", "--data-dir", f"{tmp}/data", "--run-dir", f"{tmp}/run"]
                       + sets([f"train.epochs={a.epochs}", "train.test_every_epoch=true", f"model.pretrained=\"{tmp}/start.ckpt\""]),
                       check=True, stdout=subprocess.DEVNULL)
        with open(f"{tmp}/run/metrics.csv") as f:
            ours = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]
    # PyTorch in float64 from the same start: how far float32's own rounding moves the run.
    net64 = copy.deepcopy(net).double()
    start = copy.deepcopy(net)
    theirs = pytorch_side(net, OPTIMIZERS[name](net.parameters(), lr=lr, **kwargs), xtr, ytr, xte, yte, a.epochs, batch)
    exact = pytorch_side(net64, OPTIMIZERS[name](net64.parameters(), lr=lr, **kwargs), xtr.double(), ytr, xte.double(), yte, a.epochs, batch)
    print(f"{a.config} {' '.join(a.set)}: {name} lr {lr} {kwargs}, batch {batch}, {a.train} train / {a.test} test images in order, seed {a.seed}")
    print("| epoch | train loss convlab | PyTorch | PyTorch f64 | test loss convlab | PyTorch | PyTorch f64 | test acc convlab | PyTorch | PyTorch f64 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    gap = lambda u, v: max(abs(u["train_loss"] - v["train_loss"]), abs(u["test_loss"] - v["test_loss"]))  # noqa: E731
    gaps, noise = [], []
    for e, (o, t, x) in enumerate(zip(ours, theirs, exact), 1):
        gaps.append(gap(o, x))
        noise.append(gap(t, x))
        print(f"| {e} | {o['train_loss']:.6f} | {t['train_loss']:.6f} | {x['train_loss']:.6f} | {o['test_loss']:.6f} | {t['test_loss']:.6f} "
              f"| {x['test_loss']:.6f} | {o['test_acc'] * 100:.2f} | {t['test_acc'] * 100:.2f} | {x['test_acc'] * 100:.2f} |")
    # Loss gaps to the float64 run, per epoch: convlab's beside float32 PyTorch's own.
    print(json.dumps({"config": a.config, "batch": batch, "epochs": a.epochs, "convlab_vs_f64": [round(g, 6) for g in gaps],
                      "pytorch_f32_vs_f64": [round(g, 6) for g in noise]}))
    if a.jitter:
        # One ulp on a random half of the weights is the size of difference two float32
        # implementations' rounding makes in the first step; how far it grows by the last
        # epoch is chaos, not error. convlab's gap is measured against this spread.
        finals = [noise[-1]]
        for k in range(a.jitter):
            g = torch.Generator().manual_seed(1000 + k)
            netk = copy.deepcopy(start)
            with torch.no_grad():
                for p in netk.parameters():
                    up = torch.rand(p.shape, generator=g) < 0.25
                    down = torch.rand(p.shape, generator=g) < 1 / 3
                    p.copy_(torch.where(up, torch.nextafter(p, torch.full_like(p, float("inf"))),
                                        torch.where(down & ~up, torch.nextafter(p, torch.full_like(p, float("-inf"))), p)))
            rows = pytorch_side(netk, OPTIMIZERS[name](netk.parameters(), lr=lr, **kwargs), xtr, ytr, xte, yte, a.epochs, batch)
            finals.append(gap(rows[-1], exact[-1]))
        finals.sort()
        rank = sum(f < gaps[-1] for f in finals)
        print(f"last epoch's loss gap to float64: convlab {gaps[-1]:.4g}; {len(finals)} float32 PyTorch runs (one unjittered) "
              f"min {finals[0]:.4g}, median {finals[len(finals) // 2]:.4g}, max {finals[-1]:.4g}; "
              f"{rank} of them below convlab's")
        print(json.dumps({"jittered_pytorch_f32_vs_f64_last": [round(f, 6) for f in finals]}))


if __name__ == "__main__":
    main()
