"""PyTorch beside examples/cifar10-fast.toml: the same net and recipe (airbench94's, written
here from its description, fp32), on the same CIFAR-10 JPEG copy, for accuracy and seconds
side by side with `convlab train examples/cifar10-fast.toml`.

    python3 bench/pytorch_fast.py --device cpu --threads 2 --runs 1     # this 2-core VM
    python3 bench/pytorch_fast.py --device cpu --log-epochs             # + each epoch's train loss/acc
    python3 bench/pytorch_fast.py --device cuda --runs 6                # the GPU machine
    # needs: pip install torch numpy pillow

Matches convlab's side choice for choice: normalization by the training set's channel
mean/std, whitening filters from 5,000 evenly spaced training images, the linear one-cycle
schedule over ceil(50000/1024) = 49 batches per epoch (the last one partial, as convlab's
loader), the batch-norm shifts' gradient times 64, alternating flips, 2-pixel reflected
shifts, lookahead every 5 steps, flip + shift test-time augmentation. Prints one JSON line
per run: test accuracy (with and without TTA) and seconds from the data on the device to the
end of the final evaluation; the first run includes warm-up (on CUDA: cuDNN autotune).
"""
import argparse, io, json, math, os, sys, tarfile, time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

EPOCHS, BATCH, LR, MOMENTUM, WD, BIAS_SCALE, SMOOTHING = 10, 1024, 1.5, 0.85, 0.0013305, 64.0, 0.2
WIDTHS, BN_MOMENTUM, BN_EPS = (64, 256, 256), 0.4, 1e-12
WHITEN_EPS, WHITEN_BIAS_EPOCHS, LOOKAHEAD_EVERY, LOOKAHEAD_DECAY = 5e-4, 3, 5, 0.95


def load(path):
    """The JPEG tree as uint8 NCHW arrays, classes in sorted folder order (as convlab)."""
    out = {"train": ([], []), "test": ([], [])}
    files = []
    with tarfile.open(path) as tar:  # in archive order: seeking back in a .gz re-reads it
        for m in tar:
            if m.isfile() and m.name.endswith(".jpg"):
                files.append((m.name, tar.extractfile(m).read()))
    files.sort()
    classes = sorted({name.split("/")[-2] for name, _ in files})
    for name, data in files:
        split, cls = name.split("/")[-3], name.split("/")[-2]
        out[split][0].append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        out[split][1].append(classes.index(cls))
    arrays = {k: (torch.tensor(np.stack(x)).permute(0, 3, 1, 2).contiguous(), torch.tensor(y)) for k, (x, y) in out.items()}
    return arrays["train"], arrays["test"]


def load_convlab_cache(path):
    """The same images as convlab decoded them (until 2026-12-07 its JPEG decoder was zune-jpeg,
    not libjpeg; since then src/data/jpeg/ gives PIL's pixels, so both choices read the same):
    the decoded-dataset cache `convlab train` writes (src/data/cache.rs: magic, header length,
    JSON header, then train images + labels and test images + labels as bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    # The magic's digit (CONVLABDS1-4) counts changes in what is decoded, not in the layout.
    assert raw[:9] == b"CONVLABDS", f"{path}: not a convlab dataset cache"
    n = int.from_bytes(raw[10:18], "little")
    header, at = json.loads(raw[18:18 + n]), 18 + n
    per, out = int(np.prod(header["shape"])), []
    for count in (header["train"], header["test"]):
        x = torch.tensor(np.frombuffer(raw, np.uint8, count * per, at).reshape(count, *header["shape"]))
        at += count * per
        out.append((x, torch.tensor(np.frombuffer(raw, np.uint8, count, at).astype(np.int64))))
        at += count
    return out


def make_net():
    def conv(cin, cout):
        c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        with torch.no_grad():
            nn.init.dirac_(c.weight[:cin])  # the first `in` filters pass their channel through
        return c

    def bn(c):
        b = nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)
        b.weight.requires_grad = False  # scale fixed at 1, shift trained
        return b

    layers, cin = [nn.Conv2d(3, 24, 2), nn.GELU()], 24
    for w in WIDTHS:
        layers += [conv(cin, w), nn.MaxPool2d(2), bn(w), nn.GELU(), conv(w, w), bn(w), nn.GELU()]
        cin = w
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(cin, 10, bias=False)]
    return nn.Sequential(*layers)


def whiten_(conv, images):
    """Filters: eigenvectors of the 2x2 patch second moments / sqrt(eigenvalue + eps), and
    their negatives."""
    c, k = images.shape[1], conv.weight.shape[-1]
    patches = images.unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).double()
    cov = patches.T @ patches / len(patches)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0), vectors.T.flip(0)
    filters = (vectors / torch.sqrt(values.clamp(min=0) + WHITEN_EPS)[:, None]).reshape(-1, c, k, k)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([filters, -filters]).float())
    conv.weight.requires_grad = False


def tta_logits(net, x):
    def mirror(z):
        return (net(z) + net(z.flip(-1))) / 2
    padded = F.pad(x, (1,) * 4, mode="reflect")
    h, w = x.shape[-2:]
    shifted = (mirror(padded[..., :h, :w]) + mirror(padded[..., 2:, 2:])) / 2
    return (mirror(x) + shifted) / 2


def lookahead(net, average, step, total):
    """airbench's lookahead after step `step` of `total`: every LOOKAHEAD_EVERY steps the
    average (of the whole state_dict, batch-norm statistics included) moves toward the net
    and the net is set to it; after the last step the net becomes the average."""
    every = LOOKAHEAD_EVERY
    if not every:  # off: no average to end on either
        return
    decays = ([LOOKAHEAD_DECAY ** every * (step / total) ** 3] if every and step % every == 0 else []) + ([1.0] if step == total else [])
    for decay in decays:
        with torch.no_grad():
            live = [t for t in net.state_dict().values() if t.dtype.is_floating_point]
            for avg, cur in zip(average, live):
                avg.lerp_(cur, 1 - decay)
                cur.copy_(avg)


def evaluate(net, x, y, tta):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 2000):
            logits = tta_logits(net, x[i:i + 2000]) if tta else net(x[i:i + 2000])
            correct += (logits.argmax(1) == y[i:i + 2000]).sum().item()
    return correct / len(x)


def read_draws(path, n, epochs):
    """A convlab run's data order and augmentation draws (bench/draws.rs): per epoch the
    image order, then each position's row shift, column shift and flip."""
    raw, out = np.fromfile(path, np.uint8), []
    size = n * 7
    assert len(raw) >= epochs * size, f"{path}: {len(raw) // size} epoch(s) of {n} images, {epochs} wanted"
    for e in range(epochs):
        part = raw[e * size:(e + 1) * size]
        order = torch.tensor(part[:4 * n].view("<u4").astype(np.int64))
        dy, dx = (torch.tensor(part[4 * n + k * n:4 * n + (k + 1) * n].view(np.int8).astype(np.int64)) for k in (0, 1))
        out.append((order, dy, dx, torch.tensor(part[6 * n:] == 1)))
    return out


def one_run(xtr, ytr, xte, yte, seed, device, log_epochs=False, stop_after=0, draws=None, start=None, save=None):
    torch.manual_seed(seed)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    net = make_net().to(device)
    n = len(xtr)
    whiten_(net[0], xtr[torch.arange(5000) * n // 5000])
    if start:  # another starting net (bench/gap_checks.py start writes them), whitening included
        net.load_state_dict(torch.load(start, map_location=device))
    bn_biases = [m.bias for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    others = [p for p in net.parameters() if p.requires_grad and all(p is not b for b in bn_biases)]
    opt = torch.optim.SGD([dict(params=others), dict(params=bn_biases, lr=LR * BIAS_SCALE, weight_decay=WD / BIAS_SCALE)],
                          lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=WD)
    steps_per_epoch = math.ceil(n / BATCH)
    total = EPOCHS * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[LR, LR * BIAS_SCALE], total_steps=total, pct_start=0.23,
                                                anneal_strategy="linear", div_factor=5.0, final_div_factor=1 / 0.35,
                                                cycle_momentum=False)
    average = [t.detach().clone() for t in net.state_dict().values() if t.dtype.is_floating_point]
    coins = torch.rand(n, device=device) < 0.5
    padded = F.pad(xtr, (2,) * 4, mode="reflect")
    step = 0
    for epoch in range(stop_after or EPOCHS):
        net[0].bias.requires_grad = epoch < WHITEN_BIAS_EPOCHS
        net.train()
        flip = coins ^ (epoch % 2 == 1)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        if draws:  # convlab's order, shifts and flips for this epoch, in place of our own
            order, shift_y, shift_x, flip_at = (t.to(device) for t in draws[epoch])
            flip = torch.empty_like(flip)
            flip[order] = flip_at
            batches = [(idx, shift_y[k:k + BATCH] + 2, shift_x[k:k + BATCH] + 2) for k, idx in zip(range(0, n, BATCH), order.split(BATCH))]
        else:
            batches = ((idx, *torch.randint(0, 5, (2, len(idx)), device=device)) for idx in torch.randperm(n, device=device).split(BATCH))
        for idx, dy, dx in batches:
            rows = (torch.arange(32, device=device)[None, :] + dy[:, None])
            cols = (torch.arange(32, device=device)[None, :] + dx[:, None])
            batch = padded[idx[:, None, None, None], torch.arange(3, device=device)[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
            batch = torch.where(flip[idx][:, None, None, None], batch.flip(-1), batch)
            logits = net(batch) / 9
            loss = F.cross_entropy(logits, ytr[idx], label_smoothing=SMOOTHING)
            if log_epochs:  # summed on the device: one host sync per epoch, when printed
                loss_sum += loss.detach() * len(idx)
                correct += (logits.detach().argmax(1) == ytr[idx]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            lookahead(net, average, step, total)
        if log_epochs:  # as convlab's metrics.csv: the epoch's mean loss and accuracy, in train mode, augmented
            print(json.dumps({"epoch": epoch + 1, "train_loss": round(loss_sum.item() / n, 6),
                              "train_acc": round(correct.item() / n, 6)}), file=sys.stderr, flush=True)
    if stop_after:  # a partial run: its curves are the point, not its accuracy
        return None, None, time.perf_counter() - t0  # null in the JSON line
    if save:  # the final net (lookahead's average, batch-norm statistics included), to compare with convlab's
        torch.save(net.state_dict(), save)
    scaled = nn.Sequential(net, Scale())
    acc_tta = evaluate(scaled, xte, yte, tta=True)
    sync()
    seconds = time.perf_counter() - t0
    return acc_tta, evaluate(scaled, xte, yte, tta=False), seconds


class Scale(nn.Module):
    def forward(self, x):
        return x / 9


def main():
    global EPOCHS
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("CONVLAB_DATA", "../shared/datasets"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10, help="shorter runs for a smoke test")
    ap.add_argument("--pixels", default="pil", help="pil: decode the JPEGs with PIL (libjpeg); or a convlab cache file "
                    "(~/.cache/convlab/cifar10-*.bin) to train on convlab's decoding of the same files")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after N epochs of the full schedule (curves only)")
    ap.add_argument("--log-epochs", action="store_true", help="each epoch's train loss and accuracy on stderr (one host sync per epoch)")
    ap.add_argument("--draws", help="train on a convlab run's data order and augmentation draws (bench/draws.rs writes them)")
    ap.add_argument("--start", help="start from this state_dict (.pth; bench/gap_checks.py start) instead of a fresh net")
    ap.add_argument("--save", help="write the final net's state_dict here (the last run's)")
    ap.add_argument("--limit-train", type=int, default=0, help="N evenly spaced training images (0: all)")
    ap.add_argument("--limit-test", type=int, default=0, help="N evenly spaced test images (0: all)")
    a = ap.parse_args()
    EPOCHS = a.epochs
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if a.pixels == "pil":
        (xtr, ytr), (xte, yte) = load(os.path.join(a.data_dir, "cifar10", "cifar10-jpeg.tar.gz"))
    else:
        (xtr, ytr), (xte, yte) = load_convlab_cache(a.pixels)
    if a.limit_train:
        keep = torch.arange(a.limit_train) * len(xtr) // a.limit_train
        xtr, ytr = xtr[keep], ytr[keep]
    if a.limit_test:
        keep = torch.arange(a.limit_test) * len(xte) // a.limit_test
        xte, yte = xte[keep], yte[keep]
    xtr, xte = xtr.float() / 255, xte.float() / 255
    mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
    xtr, xte = ((xtr - mean) / std).to(device), ((xte - mean) / std).to(device)
    ytr, yte = ytr.to(device), yte.to(device)
    draws = read_draws(a.draws, len(xtr), a.stop_after or EPOCHS) if a.draws else None
    for r in range(a.runs):
        acc_tta, acc, seconds = one_run(xtr, ytr, xte, yte, a.seed + r, device, a.log_epochs, a.stop_after, draws, a.start, a.save)
        print(json.dumps({"run": r, "device": a.device, "torch": torch.__version__, "test_acc_tta": acc_tta,
                          "test_acc": acc, "seconds": round(seconds, 3), "pixels": "pil" if a.pixels == "pil" else "convlab"}), flush=True)


if __name__ == "__main__":
    main()
