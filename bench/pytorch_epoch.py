"""PyTorch reference for `convlab train` epoch times: the same nets, batch sizes, optimizer,
split and per-epoch evaluation (val + test at batch 256), data already in memory.

    python3 bench/pytorch_epoch.py --dataset mnist --model mnist-cnn --batch 64 --lr 1e-3 --epochs 1
    python3 bench/pytorch_epoch.py --dataset cifar10 --model bn-prelu-cnn --batch 32 --lr 2e-3 --epochs 1
    # the PyTorch twin of examples/cifar10-augment.toml's crop + flip + erasing run:
    python3 bench/pytorch_epoch.py --dataset cifar10 --model bn-prelu-cnn --batch 32 --lr 2e-3 --epochs 10 \
        --dropout 0 --crop-padding 4 --hflip --erasing 0.5
    # ... and of examples/cifar10-mix.toml's MixUp and CutMix runs: add --mixup 0.2 or --cutmix 1.0
    # ... and of data.brightness/contrast/saturation/hue = 0.4/0.4/0.4/0.1: --color-jitter 0.4 0.4 0.4 0.1
    # ... and of model.activation = "tanh" on mnist-cnn or cifar-cnn: --activation tanh
    # ... and of model.init = "orthogonal" (every conv and linear weight; biases 0): --init orthogonal
    # ... and of train.ema_decay = 0.999 (val and test of the moving average): --ema 0.999
    # ... and of optimizer.name = "adadelta", lr = 1.0 with schedule.name = "step", step_size = 1,
    #     gamma = 0.7 (PyTorch's examples/mnist recipe): --optimizer adadelta --lr 1.0 --step-gamma 0.7
    # a net written as model.layers: export any checkpoint of it, then time its make_net():
    #   convlab export --format pytorch runs/NAME/last.ckpt -o /tmp/net.pth   # writes /tmp/net.py
    python3 bench/pytorch_epoch.py --dataset mnist --model lenet --net-py /tmp/net.py --batch 64 --lr 1e-3

Prints one JSON line per epoch: seconds (train + val + test, as convlab's timing.csv) and
test accuracy. bench/cpu_epoch.sh runs it beside convlab and prints the ratio.
"""
import argparse, gzip, io, json, os, sys, tarfile, time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_nets import NETS, Seed004, net_from_py  # noqa: E402


def mnist(root):
    def read(name, offset):
        with gzip.open(os.path.join(root, name), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    xtr = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    ytr = read("train-labels-idx1-ubyte.gz", 8)
    xte = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    yte = read("t10k-labels-idx1-ubyte.gz", 8)
    return xtr, ytr, xte, yte


def cifar_jpeg(path):
    from PIL import Image
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    split = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path) as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = m.name.split("/")
            if not m.isfile() or len(parts) < 3 or parts[-3] not in split:
                continue
            img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"))
            split[parts[-3]][0].append(img.transpose(2, 0, 1))
            split[parts[-3]][1].append(classes.index(parts[-2]))
    f = lambda s: (np.stack(split[s][0]), np.array(split[s][1], np.uint8))
    return (*f("train"), *f("test"))


# convlab's parameter-free model.activation values, as PyTorch's modules with their defaults.
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU, "mish": nn.Mish,
               "selu": nn.SELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


# convlab's model.init values other than "default", as torch.nn.init calls on every conv and
# linear weight, the biases zeroed.
INITS = {
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming-uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "xavier": nn.init.xavier_uniform_,
    "xavier-normal": nn.init.xavier_normal_,
    "lecun-normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
    "orthogonal": nn.init.orthogonal_,
}


def init_weights(model, name):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            INITS[name](m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def net(name, dropout=None, activation=None, net_py=None):
    """The seed nets as their notebooks wrote them (bench/seed_nets.py); `dropout` replaces
    seed 004's p (convlab's model.dropout), `activation` seed 001's ReLU (model.activation).
    `net_py`: the .py that `convlab export --format pytorch` writes beside a state_dict; its
    make_net() is the same layers as the config's `model.layers`, freshly initialised."""
    if net_py:
        return net_from_py(net_py)()
    if name not in NETS:
        raise SystemExit(f"unknown model {name}")
    if activation is not None:
        if name not in ("mnist-cnn", "cifar-cnn"):
            raise SystemExit("--activation is for mnist-cnn and cifar-cnn")
        return NETS[name][0](act=ACTIVATIONS[activation]())
    if dropout is not None:
        if name != "bn-prelu-cnn":
            raise SystemExit("--dropout is for bn-prelu-cnn")
        return Seed004(dropout)
    return NETS[name][0]()


def augment(xb, black, pad, hflip, erasing, jitter=None, mean=None, std=None):
    """The training batch as torchvision's RandomCrop(32, padding=pad) (zero padding: black
    before normalization), RandomHorizontalFlip(), ColorJitter(*jitter) (on the [0, 1] image,
    before Normalize) and RandomErasing(erasing) (after Normalize, value 0) give it, image by
    image; convlab's data.crop_padding, hflip, brightness/contrast/saturation/hue, erasing."""
    if pad:
        n, c, h, w = xb.shape
        padded = black.expand(n, c, h + 2 * pad, w + 2 * pad).clone()
        padded[:, :, pad:pad + h, pad:pad + w] = xb
        ij = torch.randint(0, 2 * pad + 1, (n, 2))
        xb = torch.stack([padded[k, :, i:i + h, j:j + w] for k, (i, j) in enumerate(ij.tolist())])
    if hflip:
        flip = torch.rand(len(xb)) < 0.5
        xb[flip] = xb[flip].flip(3)
    if jitter:
        from torchvision.transforms import ColorJitter
        cj = ColorJitter(*jitter)
        xb = (torch.stack([cj(img) for img in xb * std + mean]) - mean) / std
    if erasing:
        from torchvision.transforms import RandomErasing
        erase = RandomErasing(p=erasing)
        xb = torch.stack([erase(img) for img in xb])
    return xb


def batch_mix(mixup, cutmix):
    """torchvision's batch transforms as convlab's data.mixup / data.cutmix: each image mixed
    with the one before it in the batch (the batch rolled by one), lambda ~ Beta(alpha, alpha),
    the labels mixed likewise; with both set, one of the two at random per batch."""
    if not (mixup or cutmix):
        return None
    from torchvision.transforms import v2
    ops = ([v2.MixUp(alpha=mixup, num_classes=10)] if mixup else []) + \
          ([v2.CutMix(alpha=cutmix, num_classes=10)] if cutmix else [])
    return ops[0] if len(ops) == 1 else v2.RandomChoice(ops)


def limit(x, y, n):
    """The first of every len/n images, as convlab's data.limit_train / limit_test pick them."""
    if n <= 0 or n >= len(x):
        return x, y
    idx = [i * len(x) // n for i in range(n)]
    return x[idx], y[idx]


def evaluate(model, x, y):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), 256):
            out = model(x[i:i + 256])
            loss += nn.functional.cross_entropy(out, y[i:i + 256], reduction="sum").item()
            correct += (out.argmax(1) == y[i:i + 256]).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adadelta": torch.optim.Adadelta,
              "adamax": torch.optim.Adamax, "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--model", default="mnist-cnn")
    ap.add_argument("--net-py", help="a custom net: the .py `convlab export --format pytorch` wrote (its make_net()); --model then only labels the output")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS), help="torch.optim.Adam, plain SGD, Adadelta, Adamax, NAdam or RAdam, PyTorch's defaults but --lr (convlab's optimizer.name)")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="the seeded validation split carved from train (convlab's data.val_fraction); 0 = none")
    ap.add_argument("--step-gamma", type=float, default=0.0, help="StepLR(step_size=1, gamma) stepped after every epoch (convlab's schedule.name = \"step\", step_size = 1, gamma); 0 = constant lr")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--data-dir", default="../shared/datasets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--loader", default="memory", choices=["memory", "dataloader"],
                    help="memory: index batches out of the normalized tensors (the default, faster here); "
                         "dataloader: torch.utils.data.DataLoader over a TensorDataset, shuffled, no workers")
    ap.add_argument("--limit-train", type=int, default=0, help="use N training images, evenly spaced (convlab's data.limit_train)")
    ap.add_argument("--limit-test", type=int, default=0, help="use N test images, evenly spaced (convlab's data.limit_test)")
    ap.add_argument("--accumulate", type=int, default=1, help="batches per optimizer step (convlab's train.accumulate_grad_batches)")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"], help="bf16: training steps under autocast (convlab's train.precision)")
    ap.add_argument("--dropout", type=float, help="bn-prelu-cnn's dropout p (convlab's model.dropout; default the seed's 0.35)")
    ap.add_argument("--init", choices=sorted(INITS), help="torch.nn.init on every conv and linear weight, biases 0 (convlab's model.init)")
    ap.add_argument("--activation", choices=sorted(ACTIVATIONS), help="seed 001's nets with this activation in place of ReLU (convlab's model.activation)")
    ap.add_argument("--crop-padding", type=int, default=0, help="random crop after zero padding (convlab's data.crop_padding)")
    ap.add_argument("--hflip", action="store_true", help="random horizontal flip (convlab's data.hflip)")
    ap.add_argument("--erasing", type=float, default=0.0, help="RandomErasing(p) after normalization (convlab's data.erasing)")
    ap.add_argument("--color-jitter", type=float, nargs=4, metavar=("B", "C", "S", "H"),
                    help="ColorJitter(brightness, contrast, saturation, hue) after the crop and flip (convlab's data.brightness, contrast, saturation, hue)")
    ap.add_argument("--mixup", type=float, default=0.0, help="torchvision's v2.MixUp(alpha) on each training batch (convlab's data.mixup)")
    ap.add_argument("--cutmix", type=float, default=0.0, help="v2.CutMix(alpha); with --mixup too, v2.RandomChoice of the two (convlab's data.cutmix)")
    ap.add_argument("--ema", type=float, default=0.0, help="evaluate an AveragedModel(get_ema_multi_avg_fn(DECAY), use_buffers=True) updated after every step (convlab's train.ema_decay)")
    ap.add_argument("--save", help="write the trained state_dict here (for convlab import; its mean/std are printed)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    if a.dataset == "mnist":
        xtr, ytr, xte, yte = mnist(os.path.join(a.data_dir, "mnist"))
    elif a.dataset == "fashion-mnist":
        # Where convlab looks too: the data dir, else Debian's dataset-fashion-mnist.
        root = os.path.join(a.data_dir, "fashion-mnist")
        xtr, ytr, xte, yte = mnist(root if os.path.isdir(root) else "/usr/share/datasets/fashion-mnist")
    elif a.dataset == "cifar10":
        xtr, ytr, xte, yte = cifar_jpeg(os.path.join(a.data_dir, "cifar10/cifar10-jpeg.tar.gz"))
    else:
        sys.exit(f"--dataset {a.dataset}: mnist, fashion-mnist or cifar10")
    xtr, ytr = limit(xtr, ytr, a.limit_train)
    xte, yte = limit(xte, yte, a.limit_test)
    # convlab's defaults: 10% seeded validation split, per-channel normalization from train.
    rng = np.random.default_rng(a.seed)
    idx = rng.permutation(len(xtr))
    nval = round(len(xtr) * a.val_fraction)
    val, tr = idx[:nval], idx[nval:]
    xt = torch.tensor(xtr[tr], dtype=torch.float32) / 255
    mean, std = xt.mean((0, 2, 3), keepdim=True), xt.std((0, 2, 3), keepdim=True)
    norm = lambda x: (torch.tensor(x, dtype=torch.float32) / 255 - mean) / std
    xt, yt = (xt - mean) / std, torch.tensor(ytr[tr], dtype=torch.long)
    xv, yv = norm(xtr[val]), torch.tensor(ytr[val], dtype=torch.long)
    xs, ys = norm(xte), torch.tensor(yte, dtype=torch.long)
    dev = torch.device(a.device)
    xt, yt, xv, yv, xs, ys = (t.to(dev) for t in (xt, yt, xv, yv, xs, ys))
    model = net(a.model, a.dropout, a.activation, a.net_py)
    if a.init:
        init_weights(model, a.init)
    model = model.to(dev)
    black = ((0 - mean) / std).to(dev)
    augmenting = a.crop_padding or a.hflip or a.erasing or a.color_jitter
    # ColorJitter takes one image as (C, H, W): the per-channel statistics without the batch axis.
    mean3, std3 = mean[0], std[0]
    opt = OPTIMIZERS[a.optimizer](model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=a.step_gamma) if a.step_gamma else None
    mix = batch_mix(a.mixup, a.cutmix)
    ema = None
    if a.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(a.ema), use_buffers=True)
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        if a.loader == "memory":
            perm = torch.randperm(len(xt), device=dev)
            batches = ((xt[perm[i:i + a.batch]], yt[perm[i:i + a.batch]]) for i in range(0, len(xt), a.batch))
        else:
            batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=a.batch, shuffle=True)
        # Gradient accumulation as convlab's train.accumulate_grad_batches: each batch's loss
        # weighted by its share of its group's images, a step after every group.
        n, span, nb = len(xt), a.batch * a.accumulate, -(-len(xt) // a.batch)
        for i, (xb, yb) in enumerate(batches):
            if augmenting:
                xb = augment(xb, black, a.crop_padding, a.hflip, a.erasing, a.color_jitter,
                             mean3.to(dev), std3.to(dev))
            if mix:
                xb, yb = mix(xb, yb)  # yb becomes soft labels; cross_entropy takes them as such
            first = i // a.accumulate * span
            share = len(yb) / (min(first + span, n) - first)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
                loss = nn.functional.cross_entropy(model(xb), yb)
            (loss * share if share != 1 else loss).backward()
            if (i + 1) % a.accumulate == 0 or i + 1 == nb:
                opt.step()
                opt.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update_parameters(model)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
        if sched is not None:
            sched.step()
        judged = model if ema is None else ema.module
        val_acc = evaluate(judged, xv, yv)[1] if len(xv) else None
        _, acc = evaluate(judged, xs, ys)
        print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "model": a.model,
                          "batch": a.batch, "epoch": epoch + 1, "train_seconds": round(train_s, 2),
                          "seconds": round(time.perf_counter() - t0, 2), "val_acc": val_acc, "test_acc": acc}), flush=True)
    if a.save:
        torch.save((model if ema is None else ema.module).state_dict(), a.save)
        print(json.dumps({"saved": a.save, "mean": [round(v, 6) for v in mean.flatten().tolist()],
                          "std": [round(v, 6) for v in std.flatten().tolist()]}), flush=True)


if __name__ == "__main__":
    main()
