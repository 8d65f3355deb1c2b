"""The built wheel, as a user gets it: built from a copy of the source tree, installed
into a fresh venv, run from another folder.

The fresh venv is made without pip and without --system-site-packages, so the
editable install of this checkout cannot shadow the wheel. Its dependencies (numpy,
protobuf, click, rich, OpenCV) come from this test's environment through a ``.pth``
file listing that environment's site-packages folders. A folder listed in a ``.pth``
file is only added to sys.path: the ``.pth`` files inside it (the editable install's
finder among them) are not run, and the test checks that convertkit is imported from
the venv.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "fixtures" / "images"
#: Top-level entries of the checkout that a build does not need (tests, caches...).
SKIP_TOP = {".git", ".venv", "build", "dist", "out", "tests", "bench", ".pytest_cache"}
#: The zoo model both installs make: the bundled fixture's settings.
ZOO_ARGS = ["zoo", "make", "icnet", "--width", "0.125", "--input-size", "193x385", "--json"]
PROBE_TOML = "wheel_probe.toml"


def _copy_source(dest: Path) -> Path:
    def ignore(folder, names):
        skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(folder) == ROOT:
            skip |= SKIP_TOP & set(names)
        return skip

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_source(tmp / "src")
    # A mapping table as the emitters will add them: *.toml files in mappings/ must ship.
    (src / "mappings" / PROBE_TOML).write_text('[probe]\nlayer = "conv1"\n')
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", tmp / "dist", src])
    (whl,) = (tmp / "dist").glob("convertkit-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    py = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel])
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_convertkit_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return env_dir


def _clean_env(venv_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONVERTKIT_"))}
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_holds_the_data_under_convertkit_and_no_caffe_protos(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"convertkit", wheel.name.split("-py")[0] + ".dist-info"}, top
    for img in sorted(IMAGES.iterdir()):
        assert f"convertkit/data/images/{img.name}" in names
        assert zipfile.ZipFile(wheel).read(f"convertkit/data/images/{img.name}") == img.read_bytes()
    for name in ("caffe.desc", "caffe.proto", "__init__.py"):
        assert f"convertkit/_caffe_protos/{name}" in names
    assert "convertkit/mappings/README.md" in names
    assert f"convertkit/mappings/{PROBE_TOML}" in names
    for toml in sorted((ROOT / "mappings").glob("*.toml")):
        assert f"convertkit/mappings/{toml.name}" in names


def test_the_wheel_holds_every_module_of_the_package(wheel):
    # A new subpackage must be added to pyproject.toml's `packages`; this says which.
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "convertkit").rglob("*.py")
              if "__pycache__" not in p.parts}
    missing = sorted(source - names)
    assert not missing, f"not in the wheel (add their packages to pyproject.toml): {missing}"


def test_resources_in_the_checkout():
    from convertkit import resources

    assert resources.source_root() == ROOT
    assert resources.images_dir() == IMAGES
    assert resources.mappings_dir() == ROOT / "mappings"
    assert resources.caffe_desc() == (ROOT / "caffe_protos" / "caffe.desc").read_bytes()


def test_the_installed_wheel_runs_from_the_venv_without_caffe_protos(venv, tmp_path):
    code = """if True:
        import importlib.util, json, sys
        import convertkit
        from convertkit import resources
        from convertkit.runtime.preprocess import sample_images
        net = convertkit.load(sys.argv[1], sys.argv[2])  # builds the schema's classes
        print(json.dumps({
            "file": convertkit.__file__,
            "images": [p.name for p in sample_images()],
            "images_dir": str(resources.images_dir()),
            "mappings_dir": str(resources.mappings_dir()),
            "mappings": sorted(p.name for p in resources.mappings_dir().glob("*.toml")),
            "layers": len(net.layers),
            "caffe_protos_loaded": "caffe_protos" in sys.modules,
            "private_schema_loaded": "convertkit._caffe_protos" in sys.modules,
            "editable_finder": any("editable" in (f if isinstance(f, type) else type(f)).__module__
                                   for f in sys.meta_path),
        }))
    """
    model = ROOT / "fixtures" / "models" / "icnet_small"
    proc = _run([venv / "bin" / "python", "-c", code, model / "icnet.prototxt",
                 model / "icnet.caffemodel"], cwd=tmp_path, env=_clean_env(venv))
    info = json.loads(proc.stdout)
    venv_real = os.path.realpath(venv)
    assert os.path.realpath(info["file"]).startswith(venv_real + os.sep), info["file"]
    assert os.path.realpath(info["images_dir"]).startswith(venv_real + os.sep)
    assert os.path.realpath(info["mappings_dir"]).startswith(venv_real + os.sep)
    assert info["images"] == sorted(p.name for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))
    assert info["mappings"] == sorted([PROBE_TOML] + [p.name for p in (ROOT / "mappings").glob("*.toml")])
    assert info["layers"] == 219
    assert not info["caffe_protos_loaded"] and info["private_schema_loaded"]
    assert not info["editable_finder"]


def test_zoo_make_from_the_wheel_writes_the_source_trees_bytes(venv, tmp_path):
    pytest.importorskip("cv2", reason="calibration on the sample photographs needs OpenCV")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _run([venv / "bin" / "convertkit", *ZOO_ARGS, "-o", "from_wheel"], cwd=elsewhere,
                env=_clean_env(venv))
    report = json.loads(proc.stdout)
    assert report["calibration_source"].startswith("sample photographs"), report
    src = _run([sys.executable, "-m", "convertkit", *ZOO_ARGS, "-o", tmp_path / "from_source"],
               cwd=elsewhere)
    assert json.loads(src.stdout)["calibration_source"] == report["calibration_source"]
    for name in ("icnet.prototxt", "icnet.caffemodel"):
        wheel_bytes = (elsewhere / "from_wheel" / name).read_bytes()
        assert wheel_bytes == (tmp_path / "from_source" / name).read_bytes(), name
