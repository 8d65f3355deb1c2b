"""segment's cost over a bare forward pass, and evaluate's images per second.

    .venv/bin/python bench/bench_segment.py [--net icnet] [--runtime numpy] [--repeat 3] [--json]

Builds the zoo model at its official size (icnet 1025x2049), then in the same run:

  forward      one bare forward pass of the runtime on a preprocessed input
  segment      Predictor.logits (resize protocol: preprocess, forward, scores resized
               to the image) and the argmax, on a photo of the same size

and prints segment's time as a ratio to the forward pass (target <= 1.1x). Then it
lays out a small Cityscapes-style dataset (the sample photos at the net's size, the
model's own predictions as ground truth) and times ``evaluate`` with 1 and 2 workers.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _env import CORE, require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__, (*CORE, "cv2"))


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="icnet", choices=["icnet", "pspnet50"])
    ap.add_argument("--runtime", default="numpy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=4, help="dataset size for evaluate")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import cv2
    import numpy as np

    from convertkit import runtime, zoo
    from convertkit.apps.evaluate import evaluate
    from convertkit.runtime.preprocess import preprocess, read_image, sample_images
    from convertkit.apps.segment import Predictor, Protocol, label_ids
    from convertkit.caffe.wire import save_caffemodel

    text, net = zoo.make(args.net)
    h, w = net.inputs["data"][2:]
    photo = cv2.resize(read_image(sample_images()[0]), (w, h))
    x = preprocess(photo, (h, w))
    rt = runtime.create(args.runtime, net)
    pred = Predictor(rt, net)
    t_fwd = best(lambda: rt.forward({"data": x}), args.repeat)
    t_seg = best(lambda: pred.logits(photo, Protocol()).argmax(0), args.repeat)
    report = {"net": args.net, "input": [h, w], "runtime": args.runtime,
              "forward_seconds": round(t_fwd, 3), "segment_seconds": round(t_seg, 3),
              "segment_ratio": round(t_seg / t_fwd, 3), "evaluate_images_per_second": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "m.prototxt").write_text(text)
        save_caffemodel(net, tmp / "m.caffemodel")
        img_dir = tmp / "cs" / "leftImg8bit" / "val" / "c"
        gt_dir = tmp / "cs" / "gtFine" / "val" / "c"
        img_dir.mkdir(parents=True)
        gt_dir.mkdir(parents=True)
        photos = sample_images()
        for i in range(args.images):
            img = cv2.resize(read_image(photos[i % len(photos)]), (w, h))
            cv2.imwrite(str(img_dir / f"i{i}_leftImg8bit.png"), img)
            labels = pred.logits(img).argmax(0)
            cv2.imwrite(str(gt_dir / f"i{i}_gtFine_labelIds.png"), label_ids(labels))
        for workers in (1, 2):
            t = time.perf_counter()
            evaluate(tmp / "m.prototxt", tmp / "m.caffemodel", "cityscapes", tmp / "cs",
                     Protocol(), args.runtime, workers)
            report["evaluate_images_per_second"][workers] = round(args.images / (time.perf_counter() - t), 3)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.net} {h}x{w}, {args.runtime} runtime, best of {args.repeat}")
    print(f"  forward   {t_fwd:7.3f} s   1.00x")
    print(f"  segment   {t_seg:7.3f} s   {t_seg / t_fwd:5.2f}x   (target <= 1.1x)")
    for workers, ips in report["evaluate_images_per_second"].items():
        print(f"  evaluate, {workers} worker(s): {ips:.2f} images/s "
              "(model loading included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
