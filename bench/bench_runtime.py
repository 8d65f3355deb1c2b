"""The numpy reference runtime against OpenCV dnn on the same net, same run.

    .venv/bin/python bench/bench_runtime.py [--net icnet] [--repeat 3] [--threads N] [--json]

Builds the zoo model at its official size (icnet: 1025x2049, BN kept, seeded weights),
rewrites it for OpenCV (convertkit.passes.opencv), and times one forward pass of a
sample photograph in each runtime (best of --repeat, after one warm-up). Both use the
same number of threads (default: all cores). Prints the numpy time as a ratio to
OpenCV's. Target for icnet at 1025x2049: <= 3x.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _env import CORE, require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__, (*CORE, "cv2"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="icnet", choices=["icnet", "pspnet50", "pspnet101"])
    ap.add_argument("--bn", default="keep", choices=["keep", "merge"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # Same thread count for both: BLAS reads these when numpy is first imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import cv2

    from convertkit import zoo
    from convertkit.preprocess import preprocess, sample_images
    from convertkit.runtime.numpy import forward
    from convertkit.runtime.opencv import OpenCVRuntime

    cv2.setNumThreads(args.threads)
    _, net = zoo.make(args.net, bn=args.bn)
    hw = net.inputs["data"][2:]
    x = preprocess(sample_images()[0], hw)
    cv = OpenCVRuntime(net)

    def best(fn):
        fn()  # warm-up: allocations, BLAS/OpenCV thread pools
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    t_cv = best(lambda: cv.forward({"data": x}))
    t_np = best(lambda: forward(net, {"data": x}))
    report = {"net": args.net, "input": list(hw), "threads": args.threads,
              "opencv_seconds": round(t_cv, 3), "numpy_seconds": round(t_np, 3),
              "ratio": round(t_np / t_cv, 2)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.net} {hw[0]}x{hw[1]}, {args.threads} threads, best of {args.repeat}")
        print(f"  opencv dnn   {t_cv:8.3f} s   1.00x")
        print(f"  numpy        {t_np:8.3f} s   {t_np / t_cv:5.2f}x   (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
