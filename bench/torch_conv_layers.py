"""PyTorch's time for ResNet-18's stride-2 convs (3x3 and 1x1 shortcuts), forward and backward,
on CIFAR-sized planes: the reference beside which convlab's per-layer times were read
(bench/RESULTS.md, "CPU, Adam in one pass"; convlab's side: bench/layer_probe.rs). Median of
10 calls after 2 warm-up calls.

    python3 bench/torch_conv_layers.py 32        # batch 32, 2 threads
    python3 bench/torch_conv_layers.py 32 bf16   # under bf16 autocast, as bench/pytorch.py --dtype bf16
    SHAPES="32,512,512,4,3,1,1;..." python3 bench/torch_conv_layers.py 32 bf16
        (other shapes, as layer_probe.rs reads them: batch, in, out, plane, kernel, stride,
        padding; each shape's batch replaces the argument's)
"""
import os
import sys
import time

import torch

torch.set_num_threads(2)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 32
bf16 = len(sys.argv) > 2 and sys.argv[2] == "bf16"
# (in channels, out channels, input plane, kernel, stride, padding)
shapes = [(64, 128, 32, 3, 2, 1), (128, 256, 16, 3, 2, 1), (256, 512, 8, 3, 2, 1),
          (64, 128, 32, 1, 2, 0), (128, 256, 16, 1, 2, 0), (256, 512, 8, 1, 2, 0)]
shapes = [(n, *shape) for shape in shapes]
if os.environ.get("SHAPES"):
    shapes = [tuple(int(v) for v in t.split(",")) for t in os.environ["SHAPES"].split(";")]
    assert all(len(t) == 7 for t in shapes), "SHAPES: each shape is 7 numbers"
for n, c, o, h, k, s, p in shapes:
    conv = torch.nn.Conv2d(c, o, k, s, p, bias=False)
    x = torch.randn(n, c, h, h, requires_grad=True)
    fw, bw = [], []
    for i in range(12):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        t1 = time.perf_counter()
        g = torch.randn_like(y)
        t2 = time.perf_counter()
        y.backward(g)
        t3 = time.perf_counter()
        if i >= 2:
            fw.append(t1 - t0)
            bw.append(t3 - t2)
        x.grad = None
        conv.weight.grad = None
    fw.sort()
    bw.sort()
    print(f"b{n} {c}->{o} k{k} s{s} {h}x{h}: fwd {fw[len(fw) // 2] * 1e3:.1f} ms bwd {bw[len(bw) // 2] * 1e3:.1f} ms")
