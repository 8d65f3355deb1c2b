"""``convertkit prune``: structured filter pruning of a Caffe model."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import force_option, json_option, output_option


def write_pair(net, out_dir: Path, stem: str) -> list[str]:
    """``net`` as DIR/STEM.prototxt + DIR/STEM.caffemodel (each written atomically)."""
    from ..fileio import atomic_write
    from ..caffe.prototxt import net_to_text
    from ..caffe.wire import save_caffemodel

    proto, model = out_dir / f"{stem}.prototxt", out_dir / f"{stem}.caffemodel"
    with atomic_write(proto, "w") as fh:
        fh.write(net_to_text(net))
    save_caffemodel(net, model)
    return [str(proto), str(model)]


def counts(net) -> tuple[dict, dict]:
    """(totals, per layer) of params and multiply-adds."""
    plan = net.plan()
    per = {l.name: {"params": l.num_params,
                    "macs": int(l.impl.macs(plan.bottom_shapes(l), plan.top_shapes(l)))}
           for l in net.layers}
    return {"params": net.num_params, "macs": sum(v["macs"] for v in per.values())}, per


@click.command("prune")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False))
@click.option("--factor", type=float, required=True,
              help="Fraction of every prunable layer's filters to remove, in [0, 1).")
@click.option("--criterion", type=click.Choice(["l1", "l2"]), default="l1", show_default=True,
              help="Filter norm that ranks filters (the weakest go first).")
@click.option("--keep", default="", metavar="LAYER,...",
              help="Layers whose filters stay (their channel group stays whole).")
@output_option("Directory for the pruned NAME.prototxt and NAME.caffemodel.", metavar="DIR")
@force_option
@json_option("Print a JSON object: params and MACs before and after, per layer, and each "
             "channel group's fate.")
def command(prototxt, caffemodel, factor, criterion, keep, output, force, as_json):
    """Remove a fraction of every Convolution's filters, and the matching input
    channels of what reads them, keeping the graph valid: channels tied by an
    Eltwise sum (residual blocks) are pruned as one; the classifier keeps its
    classes.

    \b
    Example:
      convertkit prune icnet_full.prototxt icnet_full.caffemodel --factor 0.5 -o pruned/
    """
    from ..fileio import check_output_dir, check_outputs
    from ..caffe.loader import load
    from ..passes.prune import prune

    keep_list = [k for k in keep.split(",") if k]
    stem = Path(prototxt).stem
    out_dir = check_output_dir(output, (".prototxt", ".caffemodel"))
    targets = [out_dir / f"{stem}.prototxt", out_dir / f"{stem}.caffemodel"]
    check_outputs(targets, inputs=[prototxt, caffemodel], force=force)
    net = load(prototxt, caffemodel)
    before, per_before = counts(net)
    pruned, report = prune(net, factor, criterion, keep_list)
    after, per_after = counts(pruned)
    written = write_pair(pruned, out_dir, stem)
    result = {"written": written, "factor": factor, "criterion": criterion,
              "before": before, "after": after,
              "layers": {n: {"before": per_before[n], "after": per_after[n]} for n in per_before},
              "groups": report["groups"]}
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    whole = [g for g in report["groups"] if "left_whole" in g]
    for g in whole:
        click.echo(f"note: left whole: {', '.join(g['producers'][:3])} "
                   f"({'; '.join(g['left_whole'][:2])})", err=True)
    click.echo(f"params {before['params']:,} -> {after['params']:,} "
               f"({after['params'] / max(before['params'], 1):.1%}); multiply-adds "
               f"{before['macs']:,} -> {after['macs']:,} ({after['macs'] / max(before['macs'], 1):.1%})",
               err=True)
    click.echo(f"wrote {written[0]} and {written[1]}", err=True)
