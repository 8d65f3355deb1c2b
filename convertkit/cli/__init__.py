"""The ``convertkit`` command line. Each command lives in its own module of this
package and is added to the group below; errors become one line and exit code 2 here,
in one place."""
from __future__ import annotations

import importlib
import os
import sys

# TensorFlow's C++ start-up chatter (oneDNN, absl) is not for our users; set before
# any command imports TensorFlow. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click

from ..version import __version__
from ..errors import ConvertError

#: Command modules, each exporting ``command`` (a click command or group).
COMMAND_MODULES = ("inspect", "zoo", "run", "rewrite", "convert", "caffe2npz", "mappings", "verify", "golden",
                   "prune", "transplant", "segment", "evaluate", "conformance")

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="convertkit")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import MODULE first: a plugin that registers layer types (installed "
                   "plugins, entry point group convertkit.layers, load by themselves). Repeatable.")
@click.option("--verbose", is_flag=True,
              help="Let the frameworks' own log lines and warnings through (TensorFlow's "
                   "oneDNN banner, absl, torch.export); they are hidden by default. "
                   "Also CONVERTKIT_VERBOSE=1.")
@click.option("--caffe-proto", "caffe_proto", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Your fork's caffe.proto: prototxts are parsed with it, "
                                   "for parameter blocks convertkit does not know (needs "
                                   "grpcio-tools).")
def cli(plugins, verbose, caffe_proto) -> None:
    """Convert released Caffe models to today's frameworks, and prove they compute
    the same thing.

    Every command reads a Caffe .prototxt (and optionally its .caffemodel) without
    Caffe installed. Errors print one line naming the file, the layer and the cause,
    and exit with code 2.

    Every command takes --json. Commands that write take -o/--output, never replace
    an existing file without --force, and never replace one of their inputs.
    """
    if plugins:
        from ..caffe.loader import load_plugins

        load_plugins(plugins)
    if caffe_proto:
        from ..caffe.userproto import use

        use(caffe_proto)


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # a command whose module is not written yet
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    cli.add_command(_mod.command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map every failure to a one-line message. A command
    that fails leaves no empty folder it created for its outputs."""
    from ..fileio import remove_created_dirs
    from . import logs

    args = sys.argv[1:] if argv is None else list(argv)
    verbose = bool(os.environ.get("CONVERTKIT_VERBOSE")) or _group_flag(args, "--verbose")
    native = None
    if not verbose:
        logs.quiet_python()
        if argv is None:  # a real command line (tests call main(argv), capturing output)
            native = logs.filter_stderr()
    rc = 1
    try:
        rc = _main(args)
        return rc
    finally:
        if rc != 0:
            remove_created_dirs()
        if native is not None:
            native.close()


def _group_flag(args: list[str], flag: str) -> bool:
    """Whether ``flag`` stands among the options before the command name."""
    for a in args:
        if a == flag:
            return True
        if not a.startswith("-"):
            return False
    return False


def _main(argv: list[str] | None) -> int:
    try:
        rc = cli.main(args=argv, prog_name="convertkit", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except ConvertError as exc:  # one line, whatever a framework's message held
        click.echo(f"convertkit: error: {' '.join(str(exc).split())}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("convertkit: aborted", err=True)
        return 130
    except click.ClickException as exc:  # bad options, missing arguments: one line too
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"convertkit: error: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("convertkit: interrupted", err=True)
        return 130
    except OSError as exc:  # the machine's refusal (no space, no permission), not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"convertkit: error: {where}{exc.strerror or exc}", err=True)
        return EXIT_USAGE
    except Exception as exc:  # a bug: keep it one line unless asked for the traceback
        if os.environ.get("CONVERTKIT_DEBUG"):
            raise
        click.echo(
            f"convertkit: internal error: {type(exc).__name__}: {exc} "
            "(set CONVERTKIT_DEBUG=1 for the traceback)",
            err=True,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
