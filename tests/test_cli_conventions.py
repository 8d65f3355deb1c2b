"""One convention for every command: -o/--output, --force, --json; outputs never replace
inputs; extensions checked; bad input named in one line with exit code 2, nothing
half-written."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click
import numpy as np
import pytest

from convertkit.cli import cli, main
from convertkit.errors import OutputFileError
from convertkit.fileio import check_output_dir, check_outputs, same_file

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "models" / "icnet_small"
PROTO, WEIGHTS = str(MODEL / "icnet.prototxt"), str(MODEL / "icnet.caffemodel")
IMAGE = str(ROOT / "fixtures" / "images" / "chelsea.png")
DECLARED = "1x3x193x385"

POOL_NET = """input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "prob" type: "Softmax" bottom: "pool" top: "prob" }
"""


def cli_run(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err) -> str:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convertkit: error: "), err
    return lines[0]


def all_commands():
    """(path, click command) of every leaf command."""
    out = []

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])
        else:
            out.append((" ".join(path), cmd))

    walk(cli, [])
    return out


WRITERS = {"run", "rewrite", "zoo make", "convert", "caffe2npz", "prune", "transplant", "segment",
           "golden record"}


def options_of(cmd) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


def test_every_command_takes_json_and_every_writer_output_and_force():
    commands = dict(all_commands())
    assert WRITERS <= set(commands)
    for name, cmd in commands.items():
        opts = options_of(cmd)
        assert "--json" in opts, name
        if name in WRITERS:
            assert {"-o", "--output", "--force"} <= opts, name
            output = next(p for p in cmd.params if "--output" in getattr(p, "opts", ()))
            # caffe2npz also takes ChainerCV's positional form (SOURCE TARGET.npz), so
            # its -o is checked by the command itself (tests/test_caffemodel_alone.py).
            assert output.name == "output" and (output.required or name == "caffe2npz")
        assert "--output-dir" not in opts and "--out" not in opts, name


# --- the one helper ---------------------------------------------------------------------

def test_check_outputs_in_one_place(tmp_path):
    src = tmp_path / "net.prototxt"
    src.write_text("x")
    out = tmp_path / "o.npz"
    check_outputs([out], inputs=[src], suffix=".npz")  # fresh: fine
    out.write_bytes(b"old")
    with pytest.raises(OutputFileError, match="already exists; pass --force"):
        check_outputs([out], inputs=[src])
    check_outputs([out], inputs=[src], force=True)
    with pytest.raises(OutputFileError, match="an output never replaces an input"):
        check_outputs([src], inputs=[src], force=True)
    with pytest.raises(OutputFileError, match=r"must end in \.npz"):
        check_outputs([tmp_path / "o.txt"], suffix=".npz")
    with pytest.raises(OutputFileError, match="directory"):
        check_outputs([tmp_path], force=True)
    # the same file by another name: a symlink, a hard link, a path with ..
    (tmp_path / "link").symlink_to(src)
    os.link(src, tmp_path / "hard")
    for other in (tmp_path / "link", tmp_path / "hard", tmp_path / "sub" / ".." / "net.prototxt"):
        assert same_file(other, src)
        with pytest.raises(OutputFileError, match="input"):
            check_outputs([other], inputs=[src], force=True)
    assert not same_file(out, src)
    with pytest.raises(OutputFileError, match="takes a directory"):
        check_output_dir(out)
    with pytest.raises(OutputFileError, match="takes a directory"):
        check_output_dir(tmp_path / "new.prototxt", (".prototxt",))
    assert check_output_dir(tmp_path / "newdir", (".prototxt",)) == tmp_path / "newdir"


# --- --force ------------------------------------------------------------------------------

def test_run_never_replaces_an_existing_output_without_force(tmp_path, capsys):
    out = tmp_path / "o.npz"
    out.write_bytes(b"precious")
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--image", IMAGE, "-o", out], capsys)
    assert one_line_error(rc, err) == f"convertkit: error: {out}: already exists; pass --force to replace it"
    assert out.read_bytes() == b"precious"
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--image", IMAGE, "-o", out, "--force"], capsys)
    assert rc == 0, err
    assert set(np.load(out).files) == {"data", "conv6_interp"}


def test_rewrite_refuses_when_a_file_it_would_write_exists(tmp_path, capsys):
    out = tmp_path / "cv"
    out.mkdir()
    (out / "icnet.caffemodel").write_bytes(b"precious")
    rc, _, err = cli_run(["rewrite", "--for", "opencv", PROTO, WEIGHTS, "-o", out], capsys)
    assert f"{out / 'icnet.caffemodel'}: already exists" in one_line_error(rc, err)
    assert sorted(p.name for p in out.iterdir()) == ["icnet.caffemodel"]  # nothing else written
    assert (out / "icnet.caffemodel").read_bytes() == b"precious"
    rc, out_text, err = cli_run(["rewrite", "--for", "opencv", PROTO, WEIGHTS, "-o", out,
                                 "--force", "--json"], capsys)
    assert rc == 0, err
    report = json.loads(out_text)
    assert report["written"] == [str(out / "icnet.prototxt"), str(out / "icnet.caffemodel")]
    assert all(Path(p).stat().st_size > 1000 for p in report["written"])


def test_zoo_make_refuses_when_a_file_it_would_write_exists(tmp_path, capsys):
    (tmp_path / "icnet.prototxt").write_text("precious")
    args = ["zoo", "make", "icnet", "-o", tmp_path, "--prototxt-only", "--width", "0.125"]
    rc, _, err = cli_run(args, capsys)
    assert f"{tmp_path / 'icnet.prototxt'}: already exists" in one_line_error(rc, err)
    assert (tmp_path / "icnet.prototxt").read_text() == "precious"
    rc, out, err = cli_run(args + ["--force", "--json"], capsys)
    assert rc == 0, err
    report = json.loads(out)
    assert report["written"] == [str(tmp_path / "icnet.prototxt")]
    assert "precious" not in (tmp_path / "icnet.prototxt").read_text()


def test_zoo_make_long_option_is_output(tmp_path, capsys):
    rc, out, err = cli_run(["zoo", "make", "pspnet50", "--output", tmp_path / "m", "--prototxt-only",
                            "--width", "0.125", "--input-size", "97", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["prototxt"] == str(tmp_path / "m" / "pspnet50.prototxt")


# --- outputs never replace inputs ------------------------------------------------------------

@pytest.fixture
def model_dir(tmp_path):
    m = tmp_path / "M"
    m.mkdir()
    shutil.copy(PROTO, m / "net.prototxt")
    shutil.copy(WEIGHTS, m / "net.caffemodel")
    return m


def test_rewrite_into_the_input_folder_is_refused_even_with_force(model_dir, capsys):
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    for extra in ([], ["--force"]):
        rc, _, err = cli_run(["rewrite", "--for", "opencv", model_dir / "net.prototxt",
                              model_dir / "net.caffemodel", "-o", model_dir, *extra], capsys)
        line = one_line_error(rc, err)
        assert str(model_dir / "net.prototxt") in line and "never replaces an input" in line
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before


def test_run_onto_the_caffemodel_is_refused_even_with_force(model_dir, capsys):
    before = (model_dir / "net.caffemodel").read_bytes()
    for target in (model_dir / "net.caffemodel", model_dir / ".." / "M" / "net.caffemodel"):
        rc, _, err = cli_run(["run", model_dir / "net.prototxt", model_dir / "net.caffemodel",
                              "--image", IMAGE, "-o", target, "--force"], capsys)
        assert "never replaces an input" in one_line_error(rc, err)
    (model_dir / "alias.npz").symlink_to(model_dir / "net.caffemodel")
    rc, _, err = cli_run(["run", model_dir / "net.prototxt", model_dir / "net.caffemodel",
                          "--image", IMAGE, "-o", model_dir / "alias.npz", "--force"], capsys)
    assert f"the input {model_dir / 'net.caffemodel'} (the same file)" in one_line_error(rc, err)
    assert (model_dir / "net.caffemodel").read_bytes() == before


def test_run_onto_its_input_array_is_refused(tmp_path, capsys):
    x = tmp_path / "x.npz"
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 193, 385), np.float32))
    os.link(tmp_path / "x.npy", x)
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", tmp_path / "x.npy", "-o", x, "--force"], capsys)
    assert "never replaces an input" in one_line_error(rc, err)


# --- extensions --------------------------------------------------------------------------------

def test_run_output_must_be_npz_and_help_says_so(tmp_path, capsys):
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--image", IMAGE, "-o", tmp_path / "out.txt"], capsys)
    line = one_line_error(rc, err)
    assert str(tmp_path / "out.txt") in line and ".npz" in line
    assert not list(tmp_path.iterdir())
    rc, out, _ = cli_run(["run", "--help"], capsys)
    assert rc == 0 and "must end in .npz" in out and "is an error" in out


@pytest.mark.parametrize("cmd", [["rewrite", "--for", "opencv", PROTO, WEIGHTS],
                                 ["zoo", "make", "icnet", "--prototxt-only"]])
def test_directory_outputs_named_like_files_are_refused(cmd, tmp_path, capsys):
    rc, _, err = cli_run(cmd + ["-o", tmp_path / "net.prototxt"], capsys)
    assert "takes a directory" in one_line_error(rc, err)
    (tmp_path / "afile").write_text("x")
    rc, _, err = cli_run(cmd + ["-o", tmp_path / "afile"], capsys)
    assert "takes a directory" in one_line_error(rc, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


# --- --input arrays ----------------------------------------------------------------------------

@pytest.mark.parametrize("array, fragments", [
    (np.zeros((3, 193, 385), np.float32), ["shape 3x193x385 (3-D)", f"as {DECLARED} (4-D"]),
    (np.zeros((1, 3, 193, 385), np.int64), ["int64", "floating-point"]),
    (np.zeros((1, 4, 193, 385), np.float32), ["shape 1x4x193x385", f"as {DECLARED}",
                                              "channel counts differ (4 vs 3)"]),
    (np.zeros((1, 3, 193, 385), np.bool_), ["bool"]),
    (np.zeros((193, 385), np.float32), ["shape 193x385 (2-D)"]),
])
def test_input_arrays_that_do_not_fit_are_named_with_both_shapes(array, fragments, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, array)
    out = tmp_path / "o.npz"
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", x, "-o", out], capsys)
    line = one_line_error(rc, err)
    assert line.startswith(f"convertkit: error: {x}: ")
    for fragment in fragments:
        assert fragment in line
    if "shape" in fragments[0]:
        assert PROTO in line  # the prototxt that declares the shape
    assert not out.exists()


def test_another_batch_or_size_is_still_allowed(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 3, 193, 385), np.float64))  # float64 is taken as float32
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", x, "-o", tmp_path / "o.npz"], capsys)
    assert rc == 0, err
    assert np.load(tmp_path / "o.npz")["conv6_interp"].shape == (2, 19, 193, 385)
    net = tmp_path / "pool.prototxt"  # declared 1x3x8x8; the pool net takes any size
    net.write_text(POOL_NET)
    np.save(x, np.zeros((2, 3, 9, 11), np.float32))
    rc, _, err = cli_run(["run", net, "--input", x, "-o", tmp_path / "p.npz"], capsys)
    assert rc == 0, err
    assert np.load(tmp_path / "p.npz")["prob"].shape == (2, 3, 4, 5)


def test_a_size_the_net_cannot_take_names_the_layer_and_the_array(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 193, 193), np.float32))
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", x, "-o", tmp_path / "o.npz"], capsys)
    line = one_line_error(rc, err)
    assert line.startswith(f"convertkit: error: {PROTO}: layer '")
    assert f"(input 'data' is 1x3x193x193, from {x})" in line


@pytest.mark.parametrize("make", ["object_npy", "raw_pickle"])
def test_pickled_inputs_are_refused_without_mentioning_allow_pickle(make, tmp_path, capsys):
    x = tmp_path / "x.npy"
    if make == "object_npy":
        np.save(x, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        import pickle
        x.write_bytes(pickle.dumps(np.zeros((1, 3, 4, 4)), protocol=4))
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", x, "-o", tmp_path / "o.npz"], capsys)
    line = one_line_error(rc, err)
    assert str(x) in line and "pickles are never loaded" in line
    assert "allow_pickle" not in line


def test_other_files_given_as_input_arrays(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    for path, fragment in ((tmp_path / "a.npz", "is a numpy .npz archive, not a .npy array"),
                           (Path(IMAGE), "is a PNG image, not a .npy array (give images with --image)")):
        rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--input", path, "-o", tmp_path / "o.npz"], capsys)
        assert f"{path} {fragment}" in one_line_error(rc, err)


def test_unknown_blob_names_list_close_matches_and_name_the_prototxt(tmp_path, capsys):
    rc, _, err = cli_run(["run", PROTO, WEIGHTS, "--image", IMAGE, "--blobs", "conv5_33",
                          "-o", tmp_path / "o.npz"], capsys)
    line = one_line_error(rc, err)
    assert line.startswith(f"convertkit: error: {PROTO}: no blob named 'conv5_33'")
    assert "did you mean 'conv5_3'" in line
    assert not (tmp_path / "o.npz").exists()


# --- CAFFEMODEL is optional for run ------------------------------------------------------------

def test_run_without_a_caffemodel_on_a_net_without_params(tmp_path, capsys):
    net = tmp_path / "pool.prototxt"
    net.write_text(POOL_NET)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc, out, err = cli_run(["run", net, "--input", tmp_path / "x.npy", "--blobs", "all",
                            "-o", tmp_path / "o.npz", "--json"], capsys)
    assert rc == 0, err
    report = json.loads(out)
    assert report["written"] == [str(tmp_path / "o.npz")]
    saved = np.load(tmp_path / "o.npz")
    pooled = saved["pool"]
    assert pooled.shape == (1, 3, 4, 4)  # ceil((8-3)/2)+1
    assert pooled[0, 0, 0, 0] == x[0, 0, :3, :3].max()
    np.testing.assert_allclose(saved["prob"].sum(axis=1), 1, rtol=1e-6)
