"""Re-runs and faults: --force replaces every output kind (SavedModel folders too), and
a full disk, a read-only folder or a permission error is one line naming the output,
exit 2, with no temp file and no empty folder left."""
import errno
import os
from pathlib import Path

import pytest

from convertkit import fileio
from convertkit.cli import main

NETS = Path(__file__).resolve().parents[1] / "fixtures" / "nets"
IMAGE = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "coffee.jpg"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifier")
    assert main(["zoo", "make", "--from", str(NETS / "classifier.prototxt"), "-o", str(folder)]) == 0
    return folder / "classifier.prototxt", folder / "classifier.caffemodel"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


def test_convert_force_replaces_a_savedmodel_folder(classifier, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    proto, model = classifier
    args = ["convert", str(proto), str(model), "--to", "savedmodel,onnx", "-o", str(tmp_path / "c"),
            "--quiet"]
    assert main(args) == 0
    saved = tmp_path / "c" / "classifier.savedmodel"
    marker = saved / "left-by-the-first-run"
    marker.write_text("x")
    assert main(args) == 2  # without --force: refused, nothing replaced
    assert "already exists; pass --force" in capsys.readouterr().err
    assert marker.exists()
    assert main(args + ["--force"]) == 0
    assert saved.is_dir() and (saved / "saved_model.pb").is_file() and not marker.exists()
    assert leftovers(tmp_path / "c") == []
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "classifier.savedmodel").write_text("a file where the folder goes")
    assert main(["convert", str(proto), str(model), "--to", "savedmodel", "-o",
                 str(tmp_path / "d"), "--force", "--quiet"]) == 2
    assert "a file of that name is in the way" in capsys.readouterr().err


def _run(classifier, out: Path) -> int:
    proto, model = classifier
    return main(["run", str(proto), str(model), "--image", str(IMAGE), "-o", str(out)])


def test_full_disk_is_one_line_and_leaves_nothing(classifier, tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    out = tmp_path / "new" / "deeper" / "out.npz"
    assert _run(classifier, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"convertkit: error: {out}: cannot write: No space left on device"], err
    assert not (tmp_path / "new").exists()  # the folders it made are gone again
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_is_one_line(classifier, tmp_path, monkeypatch, capsys):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refused)
    out = tmp_path / "out.npz"
    assert _run(classifier, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"convertkit: error: {out}: cannot write: Permission denied"], err
    assert list(tmp_path.iterdir()) == []


def test_uncreatable_folder_is_one_line(classifier, tmp_path, monkeypatch, capsys):
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.name == "locked":
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = tmp_path / "a" / "locked" / "out.npz"
    assert _run(classifier, out) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"convertkit: error: {out.parent}: cannot create the folder: Read-only file system"
    assert not (tmp_path / "a").exists()


def test_a_failed_savedmodel_keeps_the_old_one(classifier, tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorflow")
    from convertkit.emit import convert as C

    proto, model = classifier
    args = ["convert", str(proto), str(model), "--to", "savedmodel", "-o", str(tmp_path),
            "--quiet", "--force"]
    assert main(args) == 0
    before = sorted(p.name for p in (tmp_path / "classifier.savedmodel").rglob("*"))

    def broken(net, path):
        path.mkdir()
        (path / "half").write_text("x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    spec = C.MODEL_FORMATS["savedmodel"]
    monkeypatch.setitem(C.MODEL_FORMATS, "savedmodel", spec.__class__(
        **{**spec.__dict__, "build": broken}))
    assert main(args) == 2
    assert "classifier.savedmodel: cannot write: No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "classifier.savedmodel").rglob("*")) == before
    assert leftovers(tmp_path) == []


def test_a_solver_given_as_a_net_is_named_as_a_solver(tmp_path, capsys):
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "models/bvlc_alexnet/train_val.prototxt"\ntest_iter: 1000\n'
                      'base_lr: 0.01\nlr_policy: "step"\nmax_iter: 450000\nsolver_mode: GPU\n')
    assert main(["inspect", str(solver)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"convertkit: error: {solver} is a Caffe solver definition (training "
                   "settings), not a net; the net it trains is "
                   "'models/bvlc_alexnet/train_val.prototxt' (give that net, or better its "
                   "deploy prototxt)")


def test_a_caffemodel_of_another_net_names_a_few_layers_and_a_count(classifier, tmp_path, capsys):
    proto, _ = classifier
    assert main(["zoo", "make", "--from", str(NETS / "enet_like.prototxt"), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(proto), "--caffemodel", str(tmp_path / "enet_like.caffemodel")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4 of 10 layers do not match the caffemodel: conv1: " in err[0], err
    assert err[0].endswith("; and 1 more layer")  # three named, then a count
    named = {w.split(":")[0] for w in err[0].split("; ")[:-1]} - {""}
    assert {"conv2", "ip1"} <= {n.strip() for n in named} and "ip2:" not in err[0]


def test_mismatch_message_says_when_most_layers_differ():
    from convertkit.caffe.loader import mismatch_message

    problems = [f"l{i}: needs 1 blobs (3) but the caffemodel has none" for i in range(40)]
    text = mismatch_message(problems, 50)
    assert text.startswith("40 of 50 layers do not match the caffemodel: l0: needs")
    assert text.endswith("; and 37 more layers (is this the caffemodel of another net?)")
