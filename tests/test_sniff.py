"""Files named for what they are: sniffing before parsing (convertkit/caffe/sniff.py)."""
from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.caffe import sniff
from convertkit.cli import main
from convertkit.errors import (CaffemodelError, FileKindError, InputFileError, PrototxtError)
from convertkit.caffe.prototxt import parse_prototxt
from convertkit.caffe.wire import read_caffemodel

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "models" / "icnet_small"
PROTO, WEIGHTS = MODEL / "icnet.prototxt", MODEL / "icnet.caffemodel"
PNG = ROOT / "fixtures" / "images" / "chelsea.png"
JPEG = ROOT / "fixtures" / "images" / "coffee.jpg"
REAL_MODELS = ROOT.parent / "shared" / "real-models"


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3), b=np.ones(2))
    return buf.getvalue()


def _zip_bytes(names) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            zf.writestr(n, b"x")
    return buf.getvalue()


# ONNX ModelProto: ir_version 8, producer_name "pytorch", producer_version "2.1",
# then opset_import { version: 17 }.
ONNX = b"\x08\x08\x12\x07pytorch\x1a\x032.1" + b"\x42\x02\x10\x11"

SAMPLES = {
    "png": (PNG.read_bytes(), "a PNG image"),
    "jpeg": (JPEG.read_bytes(), "a JPEG image"),
    "gif": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 20, "a GIF image"),
    "npy": (_npy_bytes(np.zeros((2, 3), np.float32)), "a numpy .npy array"),
    "npz": (_npz_bytes(), "a numpy .npz archive"),
    "zip": (_zip_bytes(["readme.txt", "weights.bin"]), "a zip archive"),
    "pytorch": (_zip_bytes(["archive/data.pkl", "archive/data/0"]), "a PyTorch checkpoint"),
    "hdf5": (b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00" + b"\x00" * 100, "an HDF5 file"),
    "pickle": (pickle.dumps({"weights": [1.0, 2.0]}, protocol=4), "a Python pickle"),
    "onnx": (ONNX, "an ONNX model"),
    "gzip": (gzip.compress(b"layer { }"), "a gzip-compressed file"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n", "a PDF document"),
    "json": (b'{"layers": []}\n', "a JSON file"),
    "html": (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", "an HTML page"),
    "text": (b'name: "net"\ninput: "data"\n', "a text file"),
}


@pytest.mark.parametrize("key", SAMPLES)
def test_describe_names_each_kind_from_bytes_and_from_a_file(key, tmp_path):
    data, phrase = SAMPLES[key]
    assert sniff.describe(data).startswith(phrase)
    path = tmp_path / f"file.{key}"
    path.write_bytes(data)
    assert sniff.describe(path).startswith(phrase)
    assert sniff.sniff(path).key == key


def test_caffemodels_and_unknown_binaries_are_not_named_for_something_else(tmp_path):
    assert sniff.sniff(WEIGHTS).key == "caffemodel"
    assert sniff.describe(WEIGHTS) == "a binary Caffe caffemodel"
    assert sniff.describe(bytes(range(256))) is None  # unrecognised binary
    assert sniff.describe(b"") is None
    assert sniff.describe(tmp_path / "missing") is None
    assert sniff.sniff(PROTO).key == "text"


@pytest.mark.skipif(not REAL_MODELS.is_dir(), reason=f"{REAL_MODELS} not found (needs ../shared)")
def test_real_caffe_files_from_other_projects_pass_the_check():
    files = sorted(REAL_MODELS.rglob("*.caffemodel")) + sorted(REAL_MODELS.rglob("*.prototxt"))
    assert len(files) >= 10
    for path in files:
        sniff.check_kind(path, path.suffix[1:])  # no false alarm on any of them
        sniff.check_kind(path, "model")


@pytest.mark.parametrize("key", [k for k in SAMPLES if k != "text"])
def test_anything_else_given_as_the_caffemodel_is_named(key, tmp_path):
    data, phrase = SAMPLES[key]
    path = tmp_path / "weights.caffemodel"
    path.write_bytes(data)
    with pytest.raises(CaffemodelError) as err:
        read_caffemodel(path)
    assert isinstance(err.value, FileKindError)
    assert str(err.value).startswith(f"{path} is {phrase}")
    assert "not a Caffe caffemodel" in str(err.value)


def test_the_exact_message_for_an_image_given_as_the_caffemodel(tmp_path):
    with pytest.raises(CaffemodelError) as err:
        convertkit.load(PROTO, PNG)
    assert str(err.value) == f"{PNG} is a PNG image, not a Caffe caffemodel"


def test_a_text_file_given_as_the_caffemodel(tmp_path):
    with pytest.raises(CaffemodelError) as err:
        read_caffemodel(PROTO)
    assert f"{PROTO} is a text file (a prototxt?), not a binary caffemodel" in str(err.value)


@pytest.mark.parametrize("key", [k for k in SAMPLES if k != "text"])
def test_anything_else_given_as_the_prototxt_is_named_and_no_image_is_sent_to_caffemodel(key, tmp_path):
    data, phrase = SAMPLES[key]
    path = tmp_path / "net.prototxt"
    path.write_bytes(data)
    with pytest.raises(PrototxtError) as err:
        parse_prototxt(path)
    msg = str(err.value)
    assert msg.startswith(f"{path} is {phrase}") and "not a Caffe prototxt" in msg
    # Never the advice to pass an image (or an archive...) as the caffemodel.
    assert "CAFFEMODEL" not in msg and "pass it as" not in msg


def test_a_caffemodel_given_as_the_prototxt_is_read_alone():
    """``load(X.caffemodel)`` reads the net stored in it (ChainerCV's caffe2npz form);
    the prototxt reader itself still names the mix-up."""
    net = convertkit.load(WEIGHTS)
    assert net.caffemodel_path == str(WEIGHTS) and net.prototxt_path is None
    with pytest.raises(PrototxtError) as err:
        parse_prototxt(WEIGHTS)
    msg = str(err.value)
    assert "binary file" in msg and "give it as the CAFFEMODEL argument" in msg


def test_swapped_arguments_are_recognised():
    with pytest.raises(PrototxtError, match="look swapped"):
        convertkit.load(WEIGHTS, PROTO)


def test_latin1_text_is_still_read_as_text_and_reported_by_the_parser(tmp_path):
    path = tmp_path / "l1.prototxt"
    path.write_bytes('# caf\xe9\nname: "n"\n'.encode("latin-1"))
    assert sniff.sniff(path).key == "text"
    with pytest.raises(PrototxtError, match="not UTF-8 text"):
        parse_prototxt(path)


def test_check_kind_refuses_unknown_expectations():
    with pytest.raises(ValueError):
        sniff.check_kind(PROTO, "onnx")


@pytest.mark.parametrize("args, expected", [
    (["inspect", str(PNG)], f"{PNG} is a PNG image, not a Caffe prototxt or caffemodel"),
    (["inspect", str(PROTO), str(JPEG)], f"{JPEG} is a JPEG image, not a Caffe caffemodel"),
    (["inspect", str(JPEG), str(WEIGHTS)], f"{JPEG} is a JPEG image, not a Caffe prototxt"),
])
def test_the_cli_says_it_in_one_line_with_exit_code_2(args, expected, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"convertkit: error: {expected}"]


def test_an_array_or_model_given_as_an_image_is_named(tmp_path):
    pytest.importorskip("cv2")
    from convertkit.runtime.preprocess import read_image

    path = tmp_path / "x.png"
    path.write_bytes(SAMPLES["npy"][0])
    with pytest.raises(InputFileError, match=r"x.png is a numpy .npy array, not an image"):
        read_image(path)
