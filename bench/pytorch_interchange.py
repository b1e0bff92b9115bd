"""convlab <-> PyTorch <-> ONNX, checked with the real libraries: logits within 1e-4 both ways.

    python3 bench/pytorch_interchange.py [--convlab target/release/convlab] [--data-dir ../shared/datasets]
    # needs: pip install torch numpy pillow onnxruntime

Import: every seed net (bench/seed_nets.py, the notebooks' classes with random weights and
batch-norm statistics) saved as a zip state_dict, a legacy one, one tagged as CUDA and a
whole pickled model -> `convlab import --preset` -> `convlab predict --logits` on PNGs,
against PyTorch's logits on the same pixels.
The layer-list fixture nets of tests/fixtures/pytorch (pools over windows, padded, with
ceil_mode and count_include_pad=False; PReLU per channel, the tanh GELU) -> `convlab import --config` -> their logits, and exported.
Export: those checkpoints and, when MNIST is found, briefly trained ones with other
activations and batch norm and layer-list nets with average pools (bench/nets/lenet5-avg.toml) and as PyTorch's print(model)
shows one, with LeakyReLU(0.1) and ELU(alpha=0.5) (bench/nets/print-model.toml) or per-channel
PReLUs and the tanh GELU (bench/nets/print-model-args.toml),
and when CIFAR-10 is found the cifar10-fast net -> `convlab export --format pytorch` loaded into the printed
nn.Sequential with load_state_dict(strict=True), and `--format onnx` run by onnxruntime,
against convlab's logits. Round trip: an image-folder run exported, trained further in
PyTorch and imported back with `--like`. Prints one line per check and exits 1 if any is
over 1e-4.
"""
import argparse, json, os, runpy, subprocess, sys, tempfile

import numpy as np
import onnxruntime as ort
import torch
import torch.serialization as ser
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_nets import NETS  # noqa: E402

TOL = 1e-4


def randomize(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.3, 0.3), m.running_var.uniform_(0.5, 2.0)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.4)


def images(tmp, shape, n=8):
    c, h, w = shape
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)
    paths = []
    for i, p in enumerate(pixels):
        path = os.path.join(tmp, f"img{c}_{i}.png")
        Image.fromarray(p[:, :, 0] if c == 1 else p, "L" if c == 1 else "RGB").save(path)
        paths.append(path)
    return paths, torch.tensor(pixels, dtype=torch.float32).permute(0, 3, 1, 2) / 255


def convlab_logits(bin, ckpt, paths):
    out = subprocess.run([bin, "predict", "--checkpoint", ckpt, "--json", "--logits", *paths], check=True, capture_output=True, text=True).stdout
    return torch.tensor([row["logits"] for row in json.loads(out)])


def normalized(x, ckpt_meta):
    mean, std = ckpt_meta
    if not mean:
        return x
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def check(results, what, a, b):
    d = (a - b).abs().max().item()
    results.append(d)
    print(f"{'ok  ' if d < TOL else 'FAIL'} max |diff| {d:.2e}  {what}", flush=True)


def export_checks(bin, tmp, ckpt, paths, x, results, label):
    ours = convlab_logits(bin, ckpt, paths)
    pth = os.path.join(tmp, os.path.basename(ckpt) + ".export.pth")
    out = subprocess.run([bin, "export", ckpt, "--format", "pytorch", "-o", pth, "--force"], check=True, capture_output=True, text=True).stdout
    ns = runpy.run_path(pth[:-4] + ".py")
    model = ns["make_net"]()
    model.load_state_dict(torch.load(pth), strict=True)
    model.eval()
    xs = normalized(x, (ns["MEAN"], ns["STD"]))
    with torch.no_grad():
        check(results, f"{label}: convlab -> PyTorch (export --format pytorch, load_state_dict strict)", model(xs), ours)
    onnx = os.path.join(tmp, os.path.basename(ckpt) + ".onnx")
    subprocess.run([bin, "export", ckpt, "--format", "onnx", "-o", onnx, "--force"], check=True, capture_output=True)
    sess = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    (got,) = sess.run(["logits"], {"input": xs.numpy()})
    check(results, f"{label}: convlab -> ONNX (onnxruntime {ort.__version__})", torch.tensor(got), ours)


def import_checks(bin, tmp, results):
    for name, (make, shape) in NETS.items():
        torch.manual_seed(0)
        model = make()
        randomize(model)
        model.eval()
        paths, x = images(tmp, shape)
        with torch.no_grad():
            ref = model(x)
        sd = model.state_dict()
        files = {"zip": os.path.join(tmp, f"{name}.pth"), "legacy": os.path.join(tmp, f"{name}_legacy.pth"),
                 "cuda": os.path.join(tmp, f"{name}_cuda.pth"), "whole model": os.path.join(tmp, f"{name}_model.pth")}
        torch.save(sd, files["zip"])
        torch.save(sd, files["legacy"], _use_new_zipfile_serialization=False)
        tag, ser.location_tag = ser.location_tag, (lambda s: "cuda:0")
        try:
            torch.save(sd, files["cuda"])
        finally:
            ser.location_tag = tag
        torch.save(model, files["whole model"])
        for kind, path in files.items():
            ckpt = path[:-4] + ".ckpt"
            subprocess.run([bin, "import", path, "--preset", name, "-o", ckpt, "--force"], check=True, capture_output=True)
            check(results, f"{name} ({kind} state_dict): PyTorch -> convlab (import --preset)", convlab_logits(bin, ckpt, paths), ref)
        export_checks(bin, tmp, files["zip"][:-4] + ".ckpt", paths, x, results, name)


def fixture_checks(bin, tmp, results):
    """The layer-list fixture nets of tests/fixtures/pytorch (make_fixtures.py: pools over
    windows, with padding, with ceil_mode and count_include_pad=False) imported with their
    config (`import --config`), against their PyTorch class's logits, and exported."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pytorch")
    sys.path.insert(0, here)
    import make_fixtures  # noqa: E402
    paths, x = images(tmp, (1, 28, 28))
    for name, cls, _ in make_fixtures.NETS:
        if name in ("tiny_seq", "tiny_res"):  # classes with a preset's layout, checked above
            continue
        model = cls()
        model.load_state_dict(torch.load(os.path.join(here, f"{name}.pth")))
        model.eval()
        ckpt = os.path.join(tmp, f"{name}.ckpt")
        subprocess.run([bin, "import", os.path.join(here, f"{name}.pth"), "--config", os.path.join(here, f"{name}.toml"), "-o", ckpt, "--force"], check=True, capture_output=True)
        with torch.no_grad():
            check(results, f"{name}: PyTorch -> convlab (import --config)", convlab_logits(bin, ckpt, paths), model(x))
        export_checks(bin, tmp, ckpt, paths, x, results, name)


def trained_checks(bin, tmp, data_dir, results):
    """Knob variants the seed classes do not cover, briefly trained on MNIST (real batch-norm
    statistics, normalization in the checkpoint)."""
    paths, x = images(tmp, (1, 28, 28))
    variants = {"gelu": [], "elu": [], "leaky-relu": [], "rrelu": [], "prelu": ["model.batch_norm=on"],
                "silu": [], "mish": [], "selu": [], "tanh": [], "sigmoid": [],
                "relu6": [], "hardtanh": [], "hardswish": [], "hardsigmoid": []}
    for act, extra in variants.items():
        run = os.path.join(tmp, f"run-{act}")
        sets = ["train.epochs=1", "data.limit_train=640", "data.limit_test=64", f"model.activation={act}", *extra]
        cmd = [bin, "train", os.path.join(os.path.dirname(__file__), "..", "examples", "mnist.toml"), "--data-dir", data_dir, "--run-dir", run, "--quiet"]
        subprocess.run(cmd + [a for s in sets for a in ("--set", s)], check=True, capture_output=True)
        export_checks(bin, tmp, os.path.join(run, "best.ckpt") if os.path.exists(os.path.join(run, "best.ckpt")) else os.path.join(run, "last.ckpt"),
                      paths, x, results, f"mnist-cnn {act}{' + batch norm' if extra else ''}, trained")


def layer_list_checks(bin, tmp, data_dir, results):
    """Nets written as layer lists with PyTorch's names (bench/nets/lenet5-avg.toml: average
    pools over windows, tanh; print-model.toml: LeakyReLU(0.1), ELU(alpha=0.5);
    print-model-args.toml: PReLU per channel and per feature, GELU(approximate='tanh');
    separable.toml: depthwise and dilated convs), briefly trained on MNIST; and
    mobilenet-cifar.toml (stride-2 depthwise convs, ReLU6, Hardswish) on CIFAR-10."""
    for name in ["lenet5-avg", "print-model", "print-model-args", "separable", "mobilenet-cifar"]:
        paths, x = images(tmp, (3, 32, 32) if "cifar" in name else (1, 28, 28))
        run = os.path.join(tmp, f"run-{name}")
        config = os.path.join(os.path.dirname(__file__), "nets", f"{name}.toml")
        sets = ["train.epochs=1", "data.limit_train=640", "data.limit_test=64"]
        cmd = [bin, "train", config, "--data-dir", data_dir, "--run-dir", run, "--quiet"]
        subprocess.run(cmd + [a for s in sets for a in ("--set", s)], check=True, capture_output=True)
        export_checks(bin, tmp, os.path.join(run, "last.ckpt"), paths, x, results, f"bench/nets/{name}.toml, trained")


def fast_checks(bin, tmp, data_dir, results):
    """examples/cifar10-fast.toml's net (whitening conv, shift-only batch norm with eps 1e-12,
    bias-free linear, logit scale), briefly trained on CIFAR-10."""
    paths, x = images(tmp, (3, 32, 32))
    run = os.path.join(tmp, "run-fast")
    sets = ["train.epochs=1", "data.limit_train=1024", "data.limit_test=64", "train.batch_size=256"]
    cmd = [bin, "train", os.path.join(os.path.dirname(__file__), "..", "examples", "cifar10-fast.toml"), "--data-dir", data_dir, "--run-dir", run, "--quiet"]
    subprocess.run(cmd + [a for s in sets for a in ("--set", s)], check=True, capture_output=True)
    export_checks(bin, tmp, os.path.join(run, "last.ckpt"), paths, x, results, "cifar10-fast net, trained")


def round_trip_checks(bin, tmp, results):
    """An image-folder run (3 classes, not a built-in dataset's) exported, trained 3 SGD steps
    further in PyTorch, brought back with `import --like RUN`: its classes, input shape and
    normalization come from the run's checkpoint."""
    rng = np.random.default_rng(1)
    for split, n in (("train", 24), ("test", 6)):
        for k, cls in enumerate(["apple", "kiwi", "plum"]):
            os.makedirs(os.path.join(tmp, "fruit", split, cls))
            for i in range(n):
                px = rng.integers(0, 120, size=(32, 32, 3), dtype=np.uint8)
                px[:, :, k] += 120
                Image.fromarray(px, "RGB").save(os.path.join(tmp, "fruit", split, cls, f"{i}.png"))
    cfg = os.path.join(tmp, "fruit.toml")
    with open(cfg, "w") as f:
        f.write('[data]\ndataset = "folder"\npath = "fruit"\n[model]\npreset = "cifar-cnn"\n[train]\nepochs = 1\nbatch_size = 8\n')
    run = os.path.join(tmp, "run-fruit")
    subprocess.run([bin, "train", cfg, "--run-dir", run, "--quiet"], check=True, capture_output=True, cwd=tmp)
    pth = os.path.join(tmp, "fruit.pth")
    subprocess.run([bin, "export", run, "--format", "pytorch", "-o", pth, "--force"], check=True, capture_output=True)
    ns = runpy.run_path(pth[:-4] + ".py")
    model = ns["make_net"]()
    model.load_state_dict(torch.load(pth), strict=True)
    paths, x = images(tmp, (3, 32, 32))
    xs = normalized(x, (ns["MEAN"], ns["STD"]))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xs), torch.arange(len(paths)) % 3).backward()
        opt.step()
    model.eval()
    tuned = os.path.join(tmp, "fruit-tuned.pth")
    torch.save(model.state_dict(), tuned)
    ckpt = tuned[:-4] + ".ckpt"
    subprocess.run([bin, "import", tuned, "--like", run, "-o", ckpt, "--force"], check=True, capture_output=True)
    with torch.no_grad():
        check(results, "cifar-cnn on a 3-class image folder: convlab -> PyTorch, 3 SGD steps -> convlab (import --like)", convlab_logits(bin, ckpt, paths), model(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convlab", default="target/release/convlab")
    ap.add_argument("--data-dir", default=os.environ.get("CONVLAB_DATA", "../shared/datasets"))
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, tolerance {TOL}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        import_checks(a.convlab, tmp, results)
        round_trip_checks(os.path.abspath(a.convlab), tmp, results)
        fixture_checks(a.convlab, tmp, results)
        if os.path.exists(os.path.join(a.data_dir, "mnist")):
            trained_checks(a.convlab, tmp, a.data_dir, results)
            layer_list_checks(a.convlab, tmp, a.data_dir, results)
        else:
            print(f"(no MNIST under {a.data_dir}: trained-variant export checks skipped)")
        if os.path.exists(os.path.join(a.data_dir, "cifar10")):
            fast_checks(a.convlab, tmp, a.data_dir, results)
    bad = sum(d >= TOL for d in results)
    print(f"{len(results) - bad} of {len(results)} checks within {TOL}; largest difference {max(results):.2e}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
