"""The plugin API: an outside package registers a layer type and its expressions, is
installed, and converts a net convertkit alone cannot read."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convertkit.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "convertkit-mish"

NET = """name: "mishnet"
input: "data" input_shape { dim: 1 dim: 3 dim: 12 dim: 12 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "act" type: "Mish" bottom: "conv" top: "conv" }
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package pip-installed into a folder of its own (not the venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True)
    assert list(target.glob("convertkit_mish-*.dist-info"))
    return target


def cli(args, cwd, site=None):
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "convertkit.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=env)


def test_without_the_plugin_the_type_is_unsupported(tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    res = cli(["inspect", "net.prototxt"], tmp_path)
    assert res.returncode == 2 and "unsupported types: Mish (act)" in res.stderr


def test_an_installed_plugin_is_found_through_its_entry_point(installed, tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    res = cli(["inspect", "net.prototxt", "--json"], tmp_path, installed)
    assert res.returncode == 0, res.stderr
    assert [l["type"] for l in json.loads(res.stdout)["layers"]] == ["Convolution", "Mish"]
    # Converted and run: zoo-style seeded weights, then every runtime against numpy.
    script = f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT / 'tests')!r})
import convertkit
from convertkit import runtime
from convertkit.caffe.loader import build_net
from convertkit.caffe.proto import parse_text
from support import assert_close
net = build_net(parse_text(open("net.prototxt").read()))
rng = np.random.default_rng(0)
net.layer("conv").params = [rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                            rng.standard_normal(4).astype(np.float32)]
x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32) * 2
ref = runtime.create("numpy", net).forward({{"data": x}})["conv"]
assert np.abs(ref).max() > 0.5
for name in ("torch", "onnx", "opencv", "tf"):
    out = runtime.create(name, net).forward({{"data": x}})["conv"]
    assert_close(out, ref, what=name)
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(installed)})
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


def test_the_plugin_option_loads_a_module_that_is_not_installed(tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    res = cli(["--plugin", "convertkit_mish", "inspect", "net.prototxt"], tmp_path, EXAMPLE)
    assert res.returncode == 0, res.stderr
    assert "Mish" in res.stdout
    res = cli(["--plugin", "no_such_plugin_module", "inspect", "net.prototxt"], tmp_path)
    assert res.returncode == 2
    assert "--plugin no_such_plugin_module: cannot import it" in res.stderr


def test_expressions_for_unknown_backends_are_refused():
    from convertkit.plugins import expression

    with pytest.raises(UsageError, match="unknown backend 'caffe2'"):
        expression("caffe2", "Mish")(lambda ctx: None)


def test_a_plugin_for_an_imported_backend_registers_at_once():
    from convertkit.backends import backend
    from convertkit.plugins import refusal

    opencv = backend("opencv")
    refusal("opencv", "PluginTestType", reason="registered after the backend was imported")
    assert opencv.answer("PluginTestType").startswith("refused: registered after")
