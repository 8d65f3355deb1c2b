"""The command line: exit codes, one-line errors, --help."""
import subprocess
import sys

import pytest

from convertkit.cli import main


def run_cli(args, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_lists_commands(capsys):
    rc, out, _ = run_cli(["--help"], capsys)
    assert rc == 0 and "inspect" in out


@pytest.mark.parametrize("args, fragment", [
    (["inspect", "/nonexistent/x.prototxt"], "prototxt not found"),
    (["inspect"], "give a PROTOTXT"),
    (["inspect", "--input-shape", "1,a", "x.prototxt"], "is not a shape"),
    (["nosuchcommand"], "No such command"),
])
def test_errors_are_one_line_with_exit_code_2(args, fragment, capsys):
    rc, out, err = run_cli(args, capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("convertkit: error: ") and fragment in lines[0]


def test_syntax_error_reported_by_the_cli(tmp_path, capsys):
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer {\n  name: 'a'\n  type: \n")
    rc, _, err = run_cli(["inspect", str(bad)], capsys)
    assert rc == 2 and f"{bad}:4:1: syntax error" in err and len(err.strip().splitlines()) == 1


def test_console_script_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "convertkit", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "convertkit" in out.stdout
