import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The official prototxts live outside the project (../shared/reference), never copied in.
REFERENCE = ROOT.parent / "shared" / "reference"
OFFICIAL = REFERENCE / "prototxt"
OFFICIAL_NAMES = (
    "icnet_cityscapes",
    "icnet_cityscapes_bnnomerge",
    "pspnet50_ADE20K_473",
    "pspnet101_cityscapes_713",
    "pspnet101_VOC2012_473",
)


def official_path(name: str) -> Path:
    """One official definition; skips the test, saying why, where it is absent."""
    path = OFFICIAL / f"{name}.prototxt"
    if not path.is_file():
        pytest.skip(f"official reference prototxt not found at {path} (needs ../shared/reference)")
    return path


@pytest.fixture(params=OFFICIAL_NAMES)
def official_prototxt(request) -> Path:
    """Each of the five official definitions."""
    return official_path(request.param)
