"""Load a PSPNet101-size caffemodel: time and peak memory against reading its bytes.

    .venv/bin/python bench/bench_load.py [--repeat 3] [--keep DIR] [--json]

Generates (once, cached in DIR, default .bench/) a caffemodel with the exact blob
shapes of pspnet101_cityscapes_713 (557 blobs, 65.8M floats, ~263 MB) and random
values, then measures, each in a fresh subprocess so peak RSS is per variant:

  read-bytes   open().read() of the file: the baseline
  scan         convertkit.caffe.wire.read_caffemodel (blobs as float32 arrays)
  load         convertkit.load(prototxt, caffemodel): scan + graph + shapes + checks
  protobuf     NetParameter.ParseFromString + np.array(blob.data): the naive way

Time is the best of --repeat runs (page cache warm for all variants alike), as a
ratio to read-bytes. Memory is the peak RSS growth over the interpreter with its
imports loaded, as a ratio to the file size. Targets: load <= 1.5x time, <= 1.5x memory.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _env import require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__)

import numpy as np  # noqa: E402

CHILD = r"""
import json, sys, time, resource
variant, proto, model = sys.argv[1:4]
import numpy as np
import convertkit
from convertkit.caffe.wire import read_caffemodel
from convertkit.caffe.proto import caffe_pb2

def rss_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

base = rss_kb()
t = time.perf_counter()
if variant == "read-bytes":
    with open(model, "rb") as fh:
        data = fh.read()
elif variant == "scan":
    m = read_caffemodel(model)
    n = sum(b.data.size for l in m.layers for b in l.blobs)
elif variant == "load":
    net = convertkit.load(proto, model)
    n = net.num_params
elif variant == "protobuf":
    msg = caffe_pb2().NetParameter()
    with open(model, "rb") as fh:
        msg.ParseFromString(fh.read())
    arrays = [np.array(b.data, dtype=np.float32) for l in msg.layer for b in l.blobs]
    del msg
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_growth_kb": rss_kb() - base}))
"""


def make_model(directory: Path) -> tuple[Path, Path]:
    """pspnet101_cityscapes_713's definition and a random caffemodel of its shapes."""
    import convertkit
    from convertkit.caffe.wire import save_caffemodel
    from convertkit import zoo

    directory.mkdir(parents=True, exist_ok=True)
    proto = directory / "pspnet101.prototxt"
    model = directory / "pspnet101.caffemodel"
    if model.exists() and proto.exists():
        return proto, model
    proto.write_text(zoo.make_prototxt("pspnet101"))
    net = convertkit.load(proto)
    rng = np.random.default_rng(0)
    plan = net.plan()
    for layer in net.layers:
        layer.params = [rng.standard_normal(s, dtype=np.float32)
                        for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
    save_caffemodel(net, model)
    return proto, model


def measure(variant: str, proto: Path, model: Path, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, variant, str(proto), str(model)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        r = json.loads(out.stdout)
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=ROOT / ".bench")
    ap.add_argument("--skip-protobuf", action="store_true", help="skip the slow naive variant")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    proto, model = make_model(args.keep)
    size = model.stat().st_size
    variants = ["read-bytes", "scan", "load"] + ([] if args.skip_protobuf else ["protobuf"])
    results = {v: measure(v, proto, model, args.repeat) for v in variants}
    base = results["read-bytes"]["seconds"]
    report = {
        "file_bytes": size,
        "variants": {v: {"seconds": round(r["seconds"], 4),
                         "time_ratio": round(r["seconds"] / base, 2),
                         "rss_ratio": round(r["peak_growth_kb"] * 1024 / size, 2)}
                     for v, r in results.items()},
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"caffemodel: {size / 1e6:.1f} MB ({model})")
        print(f"{'variant':<12} {'seconds':>8} {'x read':>7} {'RSS/file':>9}")
        for v, r in report["variants"].items():
            print(f"{v:<12} {r['seconds']:>8.3f} {r['time_ratio']:>7.2f} {r['rss_ratio']:>9.2f}")
        load = report["variants"]["load"]
        print(f"target load <= 1.5x time and <= 1.5x memory: "
              f"{'met' if load['time_ratio'] <= 1.5 and load['rss_ratio'] <= 1.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
