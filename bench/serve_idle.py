"""Latency of a normal /predict while 500 idle or half-sent connections are held open.

    python3 bench/serve_idle.py --convlab target/release/convlab --checkpoint runs/mnist/best.ckpt

Starts `convlab serve` on a free port, opens 400 silent connections and 100 that stop inside
their headers, then times 20 predictions of one 28x28 PNG, and prints median and max ms.
"""
import argparse, io, socket, statistics, subprocess, struct, time, urllib.request, zlib

def png_gray(side=28):
    raw = b"".join(b"\x00" + bytes((x * 9 + y * 5) % 256 for x in range(side)) for y in range(side))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

ap = argparse.ArgumentParser()
ap.add_argument("--convlab", default="target/release/convlab")
ap.add_argument("--checkpoint", required=True)
ap.add_argument("--idle", type=int, default=500)
a = ap.parse_args()
server = subprocess.Popen([a.convlab, "serve", "--checkpoint", a.checkpoint, "--port", "0"],
                          stdout=subprocess.PIPE, text=True)
url = server.stdout.readline().strip().split()[-1]
host, port = url[len("http://"):].split(":")
held = []
for i in range(a.idle):
    s = socket.create_connection((host, int(port)))
    if i % 5 == 0:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le")
    held.append(s)
png = png_gray()
times = []
for _ in range(20):
    t = time.perf_counter()
    req = urllib.request.Request(url + "/predict", data=png, headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    times.append((time.perf_counter() - t) * 1e3)
print(f"{len(held)} idle connections held; 20 /predict: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
server.kill()
