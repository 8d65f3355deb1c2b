"""Regenerate the Caffe schema's Python module and descriptor set from caffe.proto.

    python -m caffe_protos.generate          # rewrite caffe_pb2.py and caffe.desc
    python -m caffe_protos.generate --check  # exit 1 if they are stale

Needs grpcio-tools (the `dev` extra). convertkit itself never imports caffe_pb2: it
builds its message classes at run time from caffe.desc in a private descriptor pool
(convertkit/caffe/proto.py), so any protobuf runtime >= 4.21 works and nothing clashes with
another tool that registers package `caffe` in the default pool.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUTS = ("caffe_pb2.py", "caffe.desc")


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # imported here: only developers need it

    args = [
        "protoc",
        f"-I{HERE}",
        f"--python_out={out_dir}",
        f"--descriptor_set_out={out_dir / 'caffe.desc'}",
        str(HERE / "caffe.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on caffe_protos/caffe.proto")


def stale_outputs() -> list[str]:
    """Names of the committed outputs that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [n for n in OUTPUTS if (Path(tmp) / n).read_bytes() != (HERE / n).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale outputs")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_outputs()
        for name in stale:
            print(f"caffe_protos/{name} is stale: run python -m caffe_protos.generate")
        return 1 if stale else 0
    generate(HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
