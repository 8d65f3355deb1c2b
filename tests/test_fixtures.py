"""The bundled default model is exactly what the zoo makes (seeded, deterministic)."""
from pathlib import Path

from convertkit import zoo

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "icnet_small"


def test_bundled_model_is_reproducible(tmp_path):
    zoo.write("icnet", tmp_path, input_size=(193, 385), width=0.125, seed=0, bn="keep")
    for name in ("icnet.prototxt", "icnet.caffemodel"):
        assert (tmp_path / name).read_bytes() == (FIXTURE / name).read_bytes(), name
