"""PyTorch's training-mode BatchNorm2d, forward and backward, at bench/bn_probe.rs's shapes
and as that probe times convlab's: the backward of (bn(x) * r).sum() for a fixed random r,
median and fastest of 30 calls after 3 warm-up calls, 2 threads.

    python3 bench/torch_bn.py
    SHAPES="128,64,32;..." python3 bench/torch_bn.py   # (batch, channels, plane side)
"""
import os
import time

import torch

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
SHAPES = [(128, 64, 32), (128, 128, 16), (128, 256, 8), (128, 512, 4),
          (32, 16, 32), (32, 32, 16), (32, 64, 8)]
if os.environ.get("SHAPES"):
    SHAPES = [tuple(int(v) for v in s.split(",")) for s in os.environ["SHAPES"].split(";")]
for n, c, hw in SHAPES:
    bn = torch.nn.BatchNorm2d(c)
    x = (torch.randn(n, c, hw, hw) * 2 + 0.5).requires_grad_()
    r = torch.randn(n, c, hw, hw) * 2 + 0.5
    fw, bw = [], []
    for i in range(33):
        t0 = time.perf_counter()
        y = bn(x)
        t1 = time.perf_counter()
        (y * r).sum().backward()
        t2 = time.perf_counter()
        if i >= 3:
            fw.append(t1 - t0)
            bw.append(t2 - t1)
        x.grad = None
    fw.sort()
    bw.sort()
    med = lambda v: v[len(v) // 2] * 1e3
    print(f"b{n} {c}x{hw}x{hw}: fwd {med(fw):.2f} ms bwd {med(bw):.2f} ms, "
          f"fastest {fw[0] * 1e3:.2f} / {bw[0] * 1e3:.2f}")
