"""The bundled default model is what the zoo makes (seeded, deterministic): the same
prototxt, and the same params within float32 noise (the calibration runs forward
passes, whose last bits depend on the CPU and the BLAS thread count)."""
from pathlib import Path

import numpy as np

import convertkit
from convertkit import zoo

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "icnet_small"


def test_bundled_model_is_reproducible(tmp_path):
    zoo.write("icnet", tmp_path, input_size=(193, 385), width=0.125, seed=0, bn="keep")
    assert (tmp_path / "icnet.prototxt").read_bytes() == (FIXTURE / "icnet.prototxt").read_bytes()
    fresh = convertkit.load(tmp_path / "icnet.prototxt", tmp_path / "icnet.caffemodel")
    bundled = convertkit.load(FIXTURE / "icnet.prototxt", FIXTURE / "icnet.caffemodel")
    assert [l.name for l in fresh.layers] == [l.name for l in bundled.layers]
    for a, b in zip(fresh.layers, bundled.layers):
        assert len(a.params) == len(b.params), a.name
        for x, y in zip(a.params, b.params):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6 * float(np.abs(y).max()),
                                       err_msg=a.name)
