"""The checks behind bench/RESULTS.md, "Where the 0.64-point gap is not": a convlab net of
examples/cifar10-fast.toml against bench/pytorch_fast.py's, piece by piece.

    # a trained run: its test accuracy on PIL's decoding of the JPEGs, and its whitening
    # filters against PyTorch's from PIL's pixels
    convlab export --format pytorch runs/cifar10-fast/last.ckpt -o /tmp/fast.pth
    python3 bench/gap_checks.py trained /tmp/fast.pth
    # a fresh net (one step at lr 1e-30 on any 10-class folder), per-layer init statistics
    convlab train examples/cifar10-fast.toml --set data.dataset=\\"folder\\" --set data.path=\\"DIR\\" \\
      --set train.epochs=1 --set optimizer.lr=1e-30 --set schedule.name=\\"constant\\" \\
      --set train.lookahead_every=0 --set train.chance_epochs=0 --run-dir /tmp/init
    convlab export --format pytorch /tmp/init/last.ckpt -o /tmp/init.pth
    python3 bench/gap_checks.py fresh /tmp/init.pth
    # PyTorch's starting net for a seed (make_net + whiten_, as pytorch_fast.py's run builds
    # it) as a convlab checkpoint, to train convlab from the twin's init (model.pretrained)
    python3 bench/gap_checks.py start /tmp/start0.pth --seed 0     # prints the import line
    # convlab's own starting net, for the twin's --start (bench/replay.sh runs all of it): a
    # run of the recipe at lr 1e-30, exported, with batch norm put back to its initial state
    python3 bench/gap_checks.py unrun /tmp/run.pth --out /tmp/start.pth
    # two final nets of the recipe side by side (convlab's export, the twin's --save):
    # tensor norms, test accuracy, batch-norm running statistics against the actual
    # statistics of each layer's input (eval mode, 10,000 unaugmented training images)
    python3 bench/gap_checks.py finals /tmp/fast.pth /tmp/replay-s2/final.pth --pixels CACHE
"""
import argparse, importlib.util, math, os, sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import pytorch_fast as pf  # noqa: E402


def exported(pth):
    """The net `convlab export` wrote (its .py beside the .pth) and its state_dict."""
    spec = importlib.util.spec_from_file_location("exported", pth[:-4] + ".py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.make_net()
    net.load_state_dict(torch.load(pth))
    return module, net.eval()


def trained(pth, data_dir):
    module, net = exported(pth)
    (xtr, _), (xte, yte) = pf.load(os.path.join(data_dir, "cifar10", "cifar10-jpeg.tar.gz"))
    mean, std = (torch.tensor(v)[None, :, None, None] for v in (module.MEAN, module.STD))
    x = (xte.float() / 255 - mean) / std
    print(f"on PIL's pixels: test accuracy {pf.evaluate(net, x, yte, True):.4f} (TTA), {pf.evaluate(net, x, yte, False):.4f} (none)")
    train = xtr.float() / 255
    train = (train - train.mean((0, 2, 3), keepdim=True)) / train.std((0, 2, 3), keepdim=True)
    ref = torch.nn.Conv2d(3, 24, 2)
    pf.whiten_(ref, train[torch.arange(5000) * len(train) // 5000])
    ours, theirs = net[0].weight.detach(), ref.weight.detach()
    for i in range(12):  # filter norm = 1/sqrt(eigenvalue + eps); the signs are arbitrary
        a, b = ours[i].norm().item(), theirs[i].norm().item()
        print(f"whitening filter {i:2}: norm {a:.5f} vs PyTorch {b:.5f} ({100 * (a - b) / b:+.3f}%)")


def fresh(pth):
    _, net = exported(pth)
    torch.manual_seed(0)
    ref = pf.make_net().state_dict()
    for k, v in net.state_dict().items():  # every tensor (the running statistics moved one step)
        r = ref[k]
        if v.dtype.is_floating_point and v.numel() > 1:
            print(f"{k} {tuple(v.shape)}: mean {v.mean():+.5f} std {v.std():.5f} min {v.min():+.4f} max {v.max():+.4f}"
                  f" | PyTorch mean {r.mean():+.5f} std {r.std():.5f} min {r.min():+.4f} max {r.max():+.4f}")
    for k, v in net.state_dict().items():
        if k == "0.bias":
            print(f"{k}: max |b| {v.abs().max():.4f}, bound {1 / math.sqrt(12):.4f}")
        elif v.dim() == 4 and v.shape[1] != 3:
            cin = v.shape[1]
            dirac = torch.allclose(v[:cin], ref[k][:cin], atol=1e-20)
            rest, theirs = v[cin:], ref[k][cin:]
            stats = f", others std {rest.std():.5f} (PyTorch {theirs.std():.5f}), bound {1 / math.sqrt(cin * 9):.5f}" if len(rest) else ""
            print(f"{k} {tuple(v.shape)}: dirac filters {'equal' if dirac else 'DIFFER'}{stats}")
        elif v.dim() == 2:
            print(f"{k}: std {v.std():.5f} (PyTorch {ref[k].std():.5f}), bound {1 / math.sqrt(v.shape[1]):.5f}")


def start(pth, data_dir, seed):
    (xtr, _), _ = pf.load(os.path.join(data_dir, "cifar10", "cifar10-jpeg.tar.gz"))
    xtr = xtr.float() / 255
    mean, std = xtr.mean((0, 2, 3)), xtr.std((0, 2, 3))
    xtr = (xtr - mean[None, :, None, None]) / std[None, :, None, None]
    torch.manual_seed(seed)  # the same draws as pytorch_fast.one_run's net
    net = pf.make_net()
    pf.whiten_(net[0], xtr[torch.arange(5000) * len(xtr) // 5000])
    torch.save(net.state_dict(), pth)
    as_list = lambda v: ",".join(repr(x) for x in v.tolist())  # noqa: E731
    print(f"convlab import --config examples/cifar10-fast.toml --dataset cifar10 --mean {as_list(mean)} "
          f"--std {as_list(std)} -o {pth[:-4]}.ckpt {pth}")


def unrun(pth, out):
    """A convlab run exported after one epoch at lr 1e-30 is its starting net but for batch
    norm: the forwards moved the running statistics and the steps made the zero shifts ~1e-32.
    Put those back to 0 / 1 / 0 and save the state_dict as `out`."""
    state = torch.load(pth)
    for k, v in state.items():
        layer = k.rsplit(".", 1)[0]
        if f"{layer}.running_var" not in state:  # not a batch-norm layer
            continue
        if k.endswith(("running_mean", ".bias", "num_batches_tracked")):
            state[k] = torch.zeros_like(v)
        elif k.endswith("running_var"):
            state[k] = torch.ones_like(v)
    torch.save(state, out)
    print(f"wrote {out}")


def finals(paths, pixels):
    (xtr, ytr), (xte, yte) = pf.load_convlab_cache(pixels)
    sub = torch.arange(10000) * 5
    train = xtr.float() / 255  # both sides' normalization: the training set's channel statistics
    mean, std = train.mean((0, 2, 3), keepdim=True), train.std((0, 2, 3), keepdim=True)
    del train
    norm = lambda x: (x.float() / 255 - mean) / std  # noqa: E731
    states = [torch.load(p) for p in paths]
    nets = [pf.make_net() for _ in paths]
    for net, state in zip(nets, states):
        net.load_state_dict(state)
        net.eval()
    print("tensor norms:", "  ".join(paths))
    for k, v in states[0].items():
        if v.dtype.is_floating_point:
            print(f"  {k:18s}", "  ".join(f"{float(s[k].norm()):10.4f}" for s in states))

    def bn_ratios(net, x):  # per batch-norm layer: running / actual, mean shift and median variance ratio
        bns = [m for m in net if isinstance(m, torch.nn.BatchNorm2d)]
        seen = {i: [] for i in range(len(bns))}
        hooks = [b.register_forward_pre_hook(lambda m, inp, i=i: seen[i].append((inp[0].mean((0, 2, 3)), inp[0].var((0, 2, 3)))))
                 for i, b in enumerate(bns)]
        with torch.no_grad():
            for k in range(0, len(x), 1000):
                net(norm(x[k:k + 1000]))
        for h in hooks:
            h.remove()
        out = []
        for i, b in enumerate(bns):
            mu, var = (torch.stack([s[j] for s in seen[i]]).mean(0) for j in (0, 1))
            out.append((float((b.running_mean - mu).abs().mean() / mu.abs().mean()), float((b.running_var / var).median())))
        return out

    for path, net in zip(paths, nets):
        test, train = (100 * pf.evaluate(net, norm(x), y, tta=False) for x, y in ((xte, yte), (xtr[sub], ytr[sub])))
        print(f"{path}: test accuracy (no TTA) {test:.2f}%, training images {train:.2f}%")
        for i, (dm, rv) in enumerate(bn_ratios(net, xtr[sub])):
            print(f"  bn{i}: |running_mean - actual| / |actual| {dm:.4f}, running_var / actual (median) {rv:.4f}")
        print("  the same variance ratios on the test images:", " ".join(f"{rv:.3f}" for _, rv in bn_ratios(net, xte)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["trained", "fresh", "start", "unrun", "finals"])
    ap.add_argument("pth", nargs="+", help="finals: two or more state_dicts of the recipe's net")
    ap.add_argument("--data-dir", default=os.environ.get("CONVLAB_DATA", "../shared/datasets"))
    ap.add_argument("--seed", type=int, default=0, help="start: the twin's seed")
    ap.add_argument("--out", help="unrun: where to write the starting net")
    ap.add_argument("--pixels", help="finals: convlab's decoded CIFAR-10 cache (~/.cache/convlab/cifar10-*.bin)")
    a = ap.parse_args()
    if a.what == "finals":
        return finals(a.pth, a.pixels)
    a.pth = a.pth[0]
    if a.what == "trained":
        trained(a.pth, a.data_dir)
    elif a.what == "fresh":
        fresh(a.pth)
    elif a.what == "start":
        start(a.pth, a.data_dir, a.seed)
    else:
        unrun(a.pth, a.out)


if __name__ == "__main__":
    main()
