"""Time `zoo make` at the official sizes (issue #3: under a minute each on 2 cores).

    .venv/bin/python bench/bench_zoo.py [--json]

For each model, the time of the whole make (definition, weights, calibration on the
sample photographs, caffemodel written) is printed next to a baseline measured in the
same run: one numpy forward pass of the same net on one photo. The ratio says how
many forward passes the make costs; the budget column is seconds / 60.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _env import require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__)

MODELS = [("icnet", "keep"), ("icnet", "merge"), ("pspnet50", "keep"), ("pspnet101", "keep")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from convertkit import load, zoo
    from convertkit.runtime.preprocess import preprocess, sample_images
    from convertkit.runtime.numpy import forward

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, bn in MODELS:
            t = time.perf_counter()
            zoo.write(name, tmp, bn=bn)
            make_s = time.perf_counter() - t
            net = load(Path(tmp) / f"{name}.prototxt", Path(tmp) / f"{name}.caffemodel")
            x = preprocess(sample_images()[0], net.inputs["data"][2:])
            t = time.perf_counter()
            forward(net, {"data": x})
            fwd_s = time.perf_counter() - t
            rows.append({"model": name, "bn": bn, "make_seconds": round(make_s, 2),
                         "forward_seconds": round(fwd_s, 2),
                         "make_over_forward": round(make_s / fwd_s, 1),
                         "of_minute_budget": round(make_s / 60, 2)})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'model':<16} {'make s':>7} {'fwd s':>6} {'x fwd':>6} {'of 60 s':>8}")
        for r in rows:
            print(f"{r['model'] + '/' + r['bn']:<16} {r['make_seconds']:>7.2f} "
                  f"{r['forward_seconds']:>6.2f} {r['make_over_forward']:>6.1f} "
                  f"{r['of_minute_budget']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
