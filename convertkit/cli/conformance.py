"""``convertkit conformance``: cases computed by real BVLC Caffe, run through every
runtime and runnable export, every exposed blob compared with Caffe's."""
from __future__ import annotations

import json

import click

from .options import json_option, progress_bar


def _targets(spec: str) -> list[str]:
    from ..errors import UsageError
    from ..runtime import installed_runtimes
    from ..verify.conformance import DIRECT, EXPORTS, TARGETS
    from ..verify.subjects import FORMAT_RUNTIME

    installed = set(installed_runtimes())
    groups = {"direct": [t for t in DIRECT if t in installed],
              "exports": [t for t in EXPORTS if FORMAT_RUNTIME[EXPORTS[t]] in installed]}
    groups["all"] = groups["direct"] + groups["exports"]
    chosen: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part in groups:
            chosen += groups[part]
        elif part in TARGETS:
            chosen.append(part)
        else:
            raise UsageError(f"--runtimes: unknown {part!r} (known: {', '.join(TARGETS)}, "
                             "or direct, exports, all)")
    if not chosen:
        raise UsageError("--runtimes names nothing to run")
    return list(dict.fromkeys(chosen))


def _count(spec: str) -> int | None:
    from ..errors import UsageError

    if spec == "all":
        return None
    try:
        n = int(spec)
    except ValueError:
        n = 0
    if n <= 0:
        raise UsageError(f"--cases takes a positive number or 'all', not {spec!r}")
    return n


@click.command("conformance")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--runtimes", "runtimes", default="all", show_default=True, metavar="LIST",
              help="Comma-separated: the runtimes numpy, opencv, torch, tf, onnx (built from "
                   "the net, every blob compared) and the exports onnx-file, pt2, savedmodel, "
                   "keras (written to a temporary folder and run alone, outputs compared); or "
                   "direct, exports, all (those whose framework is installed).")
@click.option("--cases", "cases", default="all", show_default=True, metavar="N|all",
              help="Run N cases drawn with --seed, one of each layer type first, or all.")
@click.option("--seed", default=0, show_default=True, help="The draw of --cases N.")
@json_option("Print one JSON object: the table, the refusals' reasons and every failure.")
def command(directory, runtimes, cases, seed, as_json):
    """Run BVLC Caffe's conformance cases in DIRECTORY (case_<seed>/ folders with
    net.prototxt, net.caffemodel, input.npy, blobs.npz as Caffe's net.blobs) through
    each runtime and export, and compare every blob it exposes with Caffe's within
    max|diff| <= 1e-4 * max|ref|.

    Prints the cases x runtimes table (pass / refused / fail / error) and lists every
    failure. A refusal (the runtime cannot express a layer, and says why) is not a
    failure. Exit 1 on any fail or error.

    \b
    Examples:
      convertkit conformance ../shared/caffe-conformance --runtimes direct
      convertkit conformance ../shared/caffe-conformance --cases 40 --runtimes numpy,onnx-file
    """
    from ..verify import conformance as conf

    targets = _targets(runtimes)
    chosen = conf.sample(conf.list_cases(directory), _count(cases), seed)
    update, finish = progress_bar(not as_json, unit="runs")
    total = len(chosen) * len(targets)
    done = [0]

    def progress(result):
        done[0] += 1
        update(f"{result.case} {result.target}", done[0], total)

    try:
        results = conf.run_cases(chosen, targets, progress=progress)
    finally:
        finish()
    summary = conf.summarize(results, targets)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return 0 if conf.ok(summary) else 1
    click.echo(f"conformance: {summary['cases']} case(s) of {directory}, "
               f"max|diff| <= {summary['rtol']:g} x max|ref|")
    click.echo(conf.format_table(summary))
    for target, reasons in summary["refusals"].items():
        if reasons:
            top = "; ".join(f"{n}x {r}" for r, n in list(reasons.items())[:3])
            more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
            click.echo(f"refused in {target}: {top}{more}")
    for p in summary["problems"]:
        click.echo(f"{p['status'].upper()} {p['case']} {p['target']}: {p['detail']}")
    verdict = "PASS" if conf.ok(summary) else "FAIL"
    click.echo(f"verdict: {verdict} ({len(summary['problems'])} failures or errors in "
               f"{len(results)} runs)")
    return 0 if conf.ok(summary) else 1
