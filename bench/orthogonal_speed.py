"""Seconds for the orthogonal init of a preset's weights: convlab (`Net::new` with
model.init = "orthogonal": a blocked Cholesky QR in f64, src/model/orthogonal.rs) beside
PyTorch's `torch.nn.init.orthogonal_` on every weight of the same net (bench/seed_nets.py),
both drawing their normal matrices themselves. Rounds alternate between the two so that the
machine's noise falls on both; each round builds each net once, in a fresh process for
convlab (as `convlab train` pays it once a run) and in this one for PyTorch (after one
untimed warm-up round).

    cargo build --release --example orthogonal_init
    python3 bench/orthogonal_speed.py [--rounds 7] [--threads 2] [--before PROBE] [NET...]

NET defaults to resnet18 vgg-blocks vgg16. --before names an older build of the example,
timed in the same rounds.

Prints each round, then per net the median and range of each side and convlab's median over
PyTorch's.
"""
import argparse
import statistics
import subprocess
import time

import torch

from seed_nets import NETS

PROBE = "target/release/examples/orthogonal_init"


def torch_seconds(name):
    weights = [p for p in NETS[name][0]().parameters() if p.dim() >= 2]
    start = time.perf_counter()
    with torch.no_grad():
        for w in weights:
            torch.nn.init.orthogonal_(w)
    return time.perf_counter() - start


def convlab_seconds(names, probe=PROBE):
    out = subprocess.run([probe, *names], capture_output=True, text=True, check=True).stdout
    return {name: float(s) for name, s in (line.split() for line in out.splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nets", nargs="*", default=["resnet18", "vgg-blocks", "vgg16"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", help="an older build of the orthogonal_init example")
    a = ap.parse_args()
    sides = ["convlab", "pytorch"] + (["before"] if a.before else [])
    torch.set_num_threads(a.threads)
    for name in a.nets:
        torch_seconds(name)
    times = {n: {side: [] for side in sides} for n in a.nets}
    for r in range(a.rounds):
        for name, s in convlab_seconds(a.nets).items():
            times[name]["convlab"].append(s)
        for name in a.nets:
            times[name]["pytorch"].append(torch_seconds(name))
        if a.before:
            for name, s in convlab_seconds(a.nets, a.before).items():
                times[name]["before"].append(s)
        print(f"round {r + 1} ({' / '.join(sides)}): " + ", ".join(
            f"{n} " + " / ".join(f"{t[side][-1]:.3f}" for side in sides) + " s"
            for n, t in times.items()))
    print(f"\nmedian (range) over {a.rounds} rounds, torch {torch.__version__}, "
          f"{a.threads} threads:")
    for name, t in times.items():
        med = {side: statistics.median(t[side]) for side in sides}
        spread = ", ".join(
            f"{side} {med[side]:.3f} s ({min(t[side]):.3f}-{max(t[side]):.3f})" for side in sides)
        ratios = f"convlab / PyTorch {med['convlab'] / med['pytorch']:.2f}"
        if a.before:
            ratios += f", before / PyTorch {med['before'] / med['pytorch']:.2f}"
        print(f"{name:11} {spread}; {ratios}")


if __name__ == "__main__":
    main()
