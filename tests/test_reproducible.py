"""Every output format is byte-identical run after run: the weight files (see
tests/test_emit.py) and the runnable models, the .keras archive (Keras stamps the time
of saving) and the SavedModel (TensorFlow puts a random UUID in its fingerprint)
included. Each run is its own process, as a user's are (within one process TensorFlow
numbers its traced functions on, so a second SavedModel there names them otherwise)."""
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convertkit.cli import main

NETS = Path(__file__).resolve().parents[1] / "fixtures" / "nets"
FORMATS = {"onnx": "onnx", "pt2": "torch", "savedmodel": "tensorflow", "keras": "tensorflow",
           "keras-weights": "tensorflow"}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_runnable_format_is_byte_identical_run_after_run(tmp_path):
    formats = [f for f, m in FORMATS.items() if importlib.util.find_spec(m)]
    if not formats:
        pytest.skip("no framework installed")
    assert main(["zoo", "make", "--from", str(NETS / "classifier.prototxt"), "-o", str(tmp_path / "m")]) == 0
    args = [str(tmp_path / "m" / "classifier.prototxt"), str(tmp_path / "m" / "classifier.caffemodel"),
            "--to", ",".join(formats), "--quiet"]
    code = "import sys; from convertkit.cli import main; sys.exit(main(sys.argv[1:]))"
    for out in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, "convert", *args, "-o", str(tmp_path / out)],
                       check=True, timeout=600, capture_output=True)
        time.sleep(1.1)  # a timestamp with one-second resolution would now differ
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) >= len(formats)
    differ = [name for name in first if first[name] != second[name]]
    assert differ == []
    if "savedmodel" in formats:
        assert "classifier.savedmodel/fingerprint.pb" in first


def test_a_keras_file_names_no_object_by_its_address(tmp_path):
    """Keras writes an object two layers share with its id(), an address that differs
    from process to process: the NHWC/NCHW Permutes around a net with 4-axis inputs and
    outputs each have their own dtype policy, so none is shared."""
    pytest.importorskip("tensorflow")
    import io
    import zipfile

    import numpy as np

    import convertkit
    from convertkit.backends.tf.export import keras_bytes

    proto = tmp_path / "conv.prototxt"
    proto.write_text('input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
                     'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
                     'convolution_param { num_output: 2 kernel_size: 3 } }\n')
    net = convertkit.load(proto)
    plan = net.plan()
    for layer in net.layers:
        layer.params = [np.zeros(s, np.float32) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
    config = zipfile.ZipFile(io.BytesIO(keras_bytes(net))).read("config.json").decode()
    assert "conv_nchw" in config and "shared_object_id" not in config
