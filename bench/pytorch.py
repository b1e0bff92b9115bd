"""PyTorch side of `convlab bench`: the identical nets (bench/seed_nets.py: the seed
notebooks' nets and the CIFAR ResNet-18), the same optimizer (Adam 1e-3 unless --optimizer names another,
with PyTorch's defaults as convlab's `optimizer.name`), batch and synthetic data (image-like here, as
`synthetic_images` explains; convlab's kernels run the same on any values), timed the same way: warm-up
steps excluded, the device synchronized before the clock stops.

    python3 bench/pytorch.py --model mnist-cnn --batch 64 --device cpu
    python3 bench/pytorch.py --model resnet18 --batch 512 --device cuda --dtype bf16 --channels-last
    python3 bench/pytorch.py --model resnet18 --batch 512 --device cuda --compile   # torch.compile
    python3 bench/pytorch.py --model vgg-blocks --batch 16 --optimizer sgd-momentum

Prints one JSON line: {"model", "batch", "device", "dtype", "compiled", "optimizer", "train_images_per_s"}
(with --compile the warm-up steps include the compilation, which is not timed).
"""
import argparse, ctypes, json, os, sys, time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_nets import NETS, net_from_py  # noqa: E402


# convlab's optimizer names with what they resolve to (train/optim.rs): PyTorch's defaults, plus
# momentum 0.9 for sgd-momentum and weight decay 0.01 for AdamW; lr 1e-3 as `convlab bench`.
OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=1e-3),
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=1e-3),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3),
    "adadelta": lambda ps: torch.optim.Adadelta(ps, lr=1e-3),
    "adamax": lambda ps: torch.optim.Adamax(ps, lr=1e-3),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=1e-3),
    "radam": lambda ps: torch.optim.RAdam(ps, lr=1e-3),
}


def malloc_as_after_a_data_load():
    """glibc malloc as it is in any script that has loaded its data. In a fresh process
    every block above 128 KiB (each activation) is mmap'd, unmapped when freed, and zeroed
    again on first touch: ~940 page faults a step on cifar-cnn at batch 64, ~10% of PyTorch's
    speed here. Freeing the loaded data raises glibc's threshold to its 32 MiB ceiling
    (and the trim threshold to twice that), so real training runs, and bench/pytorch_epoch.py,
    do not pay this; without it the steps table would flatter convlab."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to match
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD


def synthetic_images(n, shape, kind, dev):
    """A batch of inputs, zero mean and unit variance per channel like normalized images.
    image-like: neighbouring pixels correlated as in photos (random planes at 1/4 size,
    upsampled bilinearly); PyTorch's CPU max pool branches on every compare, so on independent
    values its windows' maxima are unpredictable and it runs slower than on real images
    (bench/RESULTS.md, "CPU, the PyTorch side of the steps table"). convlab's pooling does
    not branch; its steps and its epochs agree."""
    if kind == "randn":
        return torch.randn(n, *shape, device=dev)
    c, h, w = shape
    x = torch.randn(n, c, max(h // 4, 1), max(w // 4, 1), device=dev)
    x = nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mnist-cnn")
    p.add_argument("--net-py", help="a custom net: the .py `convlab export --format pytorch` wrote (its make_net()), "
                                    "beside `convlab bench --config`; --model then only labels the output")
    p.add_argument("--input", help="CxHxW of --net-py's input, e.g. 3x32x32 (convlab bench --config takes its dataset's)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="torch.compile the net (default mode)")
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS))
    p.add_argument("--data", default="image-like", choices=["image-like", "randn"],
                   help="synthetic inputs: image-like (random 8x8 planes upsampled, then standardized; "
                        "PyTorch's max pool branches on each compare and runs faster on such values than "
                        "on independent ones) or randn (independent normal values, before 2026-12-03)")
    a = p.parse_args()
    malloc_as_after_a_data_load()
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dev = torch.device(a.device)
    if a.net_py:
        if not a.input:
            raise SystemExit("--net-py needs --input CxHxW")
        make, shape = net_from_py(a.net_py), tuple(int(d) for d in a.input.split("x"))
    elif a.model not in NETS:
        raise SystemExit(f"unknown model {a.model} (one of {', '.join(NETS)})")
    else:
        make, shape = NETS[a.model]
    model = make().to(dev)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if a.compile else model
    opt = OPTIMIZERS[a.optimizer](model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    batches = [(synthetic_images(a.batch, shape, a.data, dev).to(memory_format=fmt),
                torch.randint(0, 10, (a.batch,), device=dev)) for _ in range(8)]
    model.train()

    def step(i):
        x, y = batches[i % len(batches)]
        with torch.autocast(a.device if a.device != "cpu" else "cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for i in range(a.warmup):
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(i)
    loss.item()
    sync()
    seconds = time.perf_counter() - t0
    print(json.dumps({"model": a.model, "batch": a.batch, "device": a.device, "dtype": a.dtype, "compiled": a.compile,
                      "optimizer": a.optimizer,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "train_images_per_s": a.steps * a.batch / seconds}))


if __name__ == "__main__":
    main()
