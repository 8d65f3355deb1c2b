"""Where convertkit's data files are, in a source checkout and in an installed wheel.

The repository keeps them outside the package, and the wheel installs them inside it
(pyproject.toml, ``[tool.setuptools.package-dir]``):

==========================  ==============================  ===========================
what                        in the repository               in the wheel
==========================  ==============================  ===========================
sample photographs          ``fixtures/images/``            ``convertkit/data/images/``
mapping tables (``*.toml``) ``mappings/``                   ``convertkit/mappings/``
Caffe schema                ``caffe_protos/``               ``convertkit/_caffe_protos/``
==========================  ==============================  ===========================

Each function returns the installed location when it exists, else the checkout's
(a source tree used directly, or an editable install, whose package is the
checkout's ``convertkit/``). The checkout is only used when ``pyproject.toml`` sits
beside the package, so an installed copy never picks up a folder of another
distribution that happens to lie next to it in site-packages.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def source_root() -> Path | None:
    """The repository root when convertkit runs from a checkout, else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "convertkit").is_dir() else None


def _locate(installed: Path, in_checkout: str) -> Path:
    if installed.is_dir():
        return installed
    root = source_root()
    if root is not None and (root / in_checkout).is_dir():
        return root / in_checkout
    return installed  # absent: callers see an empty or missing folder


def images_dir() -> Path:
    """The sample photographs (with ``LICENSES.md``) that calibrate the zoo's BN
    statistics: ``convertkit/data/images`` installed, ``fixtures/images`` in a
    checkout."""
    return _locate(PACKAGE_DIR / "data" / "images", "fixtures/images")


def mappings_dir() -> Path:
    """The per-architecture mapping tables (``*.toml``): ``convertkit/mappings``
    installed, ``mappings`` in a checkout."""
    return _locate(PACKAGE_DIR / "mappings", "mappings")


def caffe_desc() -> bytes:
    """The serialized FileDescriptorSet of ``caffe.proto`` (see convertkit/caffe/proto.py)."""
    from importlib import resources

    try:
        return resources.files("convertkit._caffe_protos").joinpath("caffe.desc").read_bytes()
    except ModuleNotFoundError:  # a checkout used without installing it
        root = source_root()
        if root is None:
            raise
        return (root / "caffe_protos" / "caffe.desc").read_bytes()
