"""caffe2npz and caffe -> safetensors on a PSPNet101-size caffemodel, against copying it.

    .venv/bin/python bench/bench_convert.py [--repeat 3] [--keep DIR] [--json]

Uses the ~263 MB caffemodel of bench_load.py (pspnet101_cityscapes_713 shapes, random
values; cached in DIR, default .bench/). Each variant runs in a fresh process, so peak
RSS is its own:

  copy          read the caffemodel's bytes and write them to a new file (fsync'd, as
                convertkit's atomic writes are): the baseline
  caffe2npz     convertkit caffe2npz PROTOTXT CAFFEMODEL -o OUT.npz (the CLI, whole)
  safetensors   convertkit convert PROTOTXT CAFFEMODEL --to safetensors -o DIR

Time is the best of --repeat runs as a ratio to copy; memory is the peak RSS growth
over the interpreter with its imports loaded, as a ratio to the file size. Import time
(convertkit and numpy) is left out of the ratio and printed on its own line.
Targets: <= 1.5x the time and <= 1.5x the memory.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _env import require

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
require(__file__)

from bench_load import make_model  # noqa: E402

CHILD = r"""
import json, os, sys, time
variant, proto, model, out = sys.argv[1:5]
t0 = time.perf_counter()
import numpy
from convertkit.cli import main
import convertkit.emit.convert, convertkit.emit, convertkit.mapping, convertkit.caffe.loader
imports = time.perf_counter() - t0

def rss_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

base = rss_kb()
t = time.perf_counter()
if variant == "copy":
    with open(model, "rb") as fh:
        data = fh.read()
    with open(out + ".bin", "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
elif variant == "caffe2npz":
    rc = main(["caffe2npz", proto, model, "-o", out + ".npz", "--force", "--quiet"])
    assert rc == 0
elif variant == "safetensors":
    rc = main(["convert", proto, model, "--to", "safetensors", "-o", out, "--force", "--quiet"])
    assert rc == 0
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "imports": imports, "peak_growth_kb": rss_kb() - base}))
"""

VARIANTS = ("copy", "caffe2npz", "safetensors")


def measure(variant: str, proto: Path, model: Path, out: Path, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        res = subprocess.run([sys.executable, "-c", CHILD, variant, str(proto), str(model),
                              str(out)], capture_output=True, text=True, cwd=ROOT, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=ROOT / ".bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    proto, model = make_model(args.keep)
    size = model.stat().st_size
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        results = {v: measure(v, proto, model, Path(tmp) / "out", args.repeat) for v in VARIANTS}
    base = results["copy"]["seconds"]
    report = {"file_bytes": size,
              "import_seconds": round(min(r["imports"] for r in results.values()), 3),
              "variants": {v: {"seconds": round(r["seconds"], 3),
                               "time_ratio": round(r["seconds"] / base, 2),
                               "rss_ratio": round(r["peak_growth_kb"] * 1024 / size, 2)}
                           for v, r in results.items()}}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"caffemodel: {size / 1e6:.1f} MB ({model})")
    print(f"{'variant':<12} {'seconds':>8} {'x copy':>7} {'RSS/file':>9}")
    for v, r in report["variants"].items():
        print(f"{v:<12} {r['seconds']:>8.3f} {r['time_ratio']:>7.2f} {r['rss_ratio']:>9.2f}")
    print(f"imports (convertkit, numpy; not in the ratios): {report['import_seconds']:.3f} s")
    met = all(r["time_ratio"] <= 1.5 and r["rss_ratio"] <= 1.5
              for v, r in report["variants"].items() if v != "copy")
    print(f"target <= 1.5x time and <= 1.5x memory: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
