"""Every installed runtime against OpenCV dnn on the same net, same run.

    .venv/bin/python bench/bench_runtime.py [--net icnet] [--threads 2,1] [--repeat 3]
                                            [--runtimes numpy,torch,onnx,tf] [--json]

Builds the zoo model at its official size (icnet: 1025x2049, pspnet50: 473; seeded
weights), and times one forward pass of a sample photograph in each runtime (best of
--repeat, after one warm-up), all with the same number of threads. Each thread count
runs in a fresh process (BLAS reads its thread count at import). Prints each time as a
ratio to OpenCV's. Targets: onnxruntime <= 0.8x, PyTorch <= 1.0x, numpy <= 3x. For
context it prints the times the authors' Caffe fork took on a 2-core CPU with OpenBLAS.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _env import CORE, require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__, (*CORE, "cv2"))

#: Seconds per image of the authors' Caffe fork, 2-core CPU, OpenBLAS (issue #8).
CAFFE_FORK = {"icnet": 3.5, "pspnet50": 7.7}
TARGETS = {"numpy": 3.0, "torch": 1.0, "onnx": 0.8}


def measure(args) -> dict:
    """One process, one thread count: every runtime's best time."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import cv2

    from convertkit import runtime, zoo
    from convertkit.runtime.preprocess import preprocess, sample_images

    cv2.setNumThreads(args.threads)
    _, net = zoo.make(args.net, bn=args.bn)
    hw = net.inputs["data"][2:]
    x = preprocess(sample_images()[0], hw)
    options = {"onnx": {"threads": args.threads}}
    wanted = ["opencv"] + [r for r in args.runtimes.split(",") if r != "opencv"]
    installed = set(runtime.installed_runtimes())
    if "torch" in wanted and "torch" in installed:
        import torch

        torch.set_num_threads(args.threads)
    if "tf" in wanted and "tf" in installed:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    times = {}
    for name in wanted:
        if name not in installed:
            continue
        rt = runtime.create(name, net, **options.get(name, {}))
        rt.forward({"data": x})  # warm-up: building, allocations, thread pools
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            rt.forward({"data": x})
            best = min(best, time.perf_counter() - t)
        times[name] = round(best, 3)
    return {"net": args.net, "input": list(hw), "threads": args.threads, "seconds": times,
            "ratio_to_opencv": {k: round(v / times["opencv"], 2) for k, v in times.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="icnet", choices=["icnet", "pspnet50", "pspnet101"])
    ap.add_argument("--bn", default="keep", choices=["keep", "merge"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    ap.add_argument("--runtimes", default="numpy,torch,onnx,tf")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    if len(counts) == 1:
        args.threads = counts[0]
        report = measure(args)
        print(json.dumps(report))
        return 0
    reports = []
    for n in counts:  # a fresh process per thread count
        cmd = [sys.executable, __file__, "--net", args.net, "--bn", args.bn, "--repeat",
               str(args.repeat), "--threads", str(n), "--runtimes", args.runtimes]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        reports.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(reports))
        return 0
    hw = reports[0]["input"]
    print(f"{args.net} {hw[0]}x{hw[1]}, BN {args.bn}, best of {args.repeat}; "
          f"the authors' Caffe fork: {CAFFE_FORK.get(args.net, '?')} s on 2 cores")
    for rep in reports:
        print(f"  {rep['threads']} thread(s)")
        for name, sec in rep["seconds"].items():
            target = f"(target <= {TARGETS[name]}x)" if name in TARGETS else ""
            print(f"    {name:<8} {sec:8.3f} s  {rep['ratio_to_opencv'][name]:5.2f}x  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
