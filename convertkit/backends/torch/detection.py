"""PyTorch's expression of SSD's PriorBox (the boxes of the sizes at hand) and
DetectionOutput (layers/detection_output.py), the latter in torch ops alone, so that
eager PyTorch and ``torch.export`` (a ``.pt2``) give the detections.

Caffe's rules, kept: boxes decoded from the priors (CORNER, CENTER_SIZE, CORNER_SIZE;
the variance unless it is encoded in the target); per class but the background, the
scores strictly above ``confidence_threshold``, the best ``nms_param.top_k`` of them
(a stable sort: ties keep the prior order), greedy NMS at ``nms_threshold`` with
Caffe's JaccardOverlap (an inverted box has size 0 and overlaps nothing; a box kept
when its overlap with every kept box is at most the threshold), tightened by ``eta``
after each kept box while above 0.5; per image the best ``keep_top_k`` over all
classes; rows ``[image, label, score, xmin, ymin, xmax, ymax]``, images in order,
labels ascending, each label's boxes best first; one row ``[i, -1, ..., -1]`` per
image when nothing at all is found.

Traceable: the candidates per class are a fixed ``top_k`` (static), NMS is a
``torch.while_loop`` of ``top_k`` masked steps over them (one step in the traced
program), and only the last step, the selection of the kept rows (``torch.nonzero``),
has a data-dependent size (an unbacked size in the program).
"""
from __future__ import annotations

import torch

from ..base import Context
from .core import BACKEND, Op


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> Op:
    """The boxes depend on the shapes alone: a constant of the plan."""
    impl = ctx.layer.impl

    def run(xs):  # the boxes of the sizes at hand (a constant when exported)
        boxes = impl.boxes(tuple(int(d) for d in xs[0].shape[2:]),
                           tuple(int(d) for d in xs[1].shape[2:]))
        return [torch.from_numpy(boxes).to(xs[0].device, xs[0].dtype)]

    return Op(None, run)


def decode(prior: torch.Tensor, loc: torch.Tensor, p) -> torch.Tensor:
    """N x P x 4 corners from prior (2 x P x 4) and loc (N x P x 4), numpy's steps."""
    corners, var = prior[0], prior[1]
    if p.variance_encoded_in_target:
        var = torch.ones_like(var)
    xmin, ymin, xmax, ymax = corners.unbind(-1)
    pw, ph = xmax - xmin, ymax - ymin
    if p.code_type == "CORNER":
        return corners + var * loc
    if p.code_type == "CORNER_SIZE":
        return corners + var * loc * torch.stack([pw, ph, pw, ph], dim=-1)
    pcx, pcy = (xmin + xmax) / 2, (ymin + ymax) / 2
    cx = var[:, 0] * loc[..., 0] * pw + pcx
    cy = var[:, 1] * loc[..., 1] * ph + pcy
    w = torch.exp(var[:, 2] * loc[..., 2]) * pw
    h = torch.exp(var[:, 3] * loc[..., 3]) * ph
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def overlaps(boxes: torch.Tensor) -> torch.Tensor:
    """... x K x K JaccardOverlap of ... x K x 4 boxes with each other (Caffe's)."""
    a, b = boxes[..., :, None, :], boxes[..., None, :, :]
    ix0 = torch.maximum(a[..., 0], b[..., 0])
    iy0 = torch.maximum(a[..., 1], b[..., 1])
    ix1 = torch.minimum(a[..., 2], b[..., 2])
    iy1 = torch.minimum(a[..., 3], b[..., 3])
    zero = torch.zeros((), dtype=boxes.dtype, device=boxes.device)
    inter = torch.where((ix1 > ix0) & (iy1 > iy0), (ix1 - ix0) * (iy1 - iy0), zero)
    inverted = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
    area = torch.where(inverted, zero, (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))
    union = area[..., :, None] + area[..., None, :] - inter
    positive = union > 0
    return torch.where(positive, inter / torch.where(positive, union, torch.ones_like(union)), zero)


def detections(loc: torch.Tensor, conf: torch.Tensor, prior: torch.Tensor, p,
               priors: int) -> torch.Tensor:
    """The 1 x 1 x D x 7 top from Caffe-layout loc, conf and prior."""
    classes = p.num_classes
    loc = loc.reshape(-1, priors, 4).to(torch.float32)
    boxes = decode(prior.reshape(2, priors, 4).to(torch.float32), loc, p)  # N x P x 4
    scores = conf.reshape(-1, priors, classes).to(torch.float32).transpose(1, 2)  # N x C x P
    dev = loc.device
    kept_class = torch.ones(classes, dtype=torch.bool, device=dev)
    if 0 <= p.background_label_id < classes:
        kept_class[p.background_label_id] = False
    threshold = torch.tensor(p.confidence_threshold, dtype=torch.float32, device=dev)
    passing = (scores > threshold) & kept_class[None, :, None]
    ninf = torch.tensor(float("-inf"), dtype=torch.float32, device=dev)
    # The best top_k per class, best first, ties in prior order (Caffe's stable sort).
    top_k = priors if p.top_k < 0 else min(p.top_k, priors)
    order = torch.sort(torch.where(passing, scores, ninf), dim=2, descending=True,
                       stable=True).indices[:, :, :top_k]  # N x C x K
    valid = torch.gather(passing, 2, order)
    cand_scores = torch.gather(scores, 2, order)
    n_img = loc.shape[0]
    cand_boxes = torch.gather(boxes[:, None].expand(n_img, classes, priors, 4), 2,
                              order[..., None].expand(n_img, classes, top_k, 4))
    iou = overlaps(cand_boxes)  # N x C x K x K
    keep = _nms(iou, valid, p, top_k)
    if p.keep_top_k > -1 and p.keep_top_k < classes * top_k:
        flat = torch.where(keep, cand_scores, ninf).reshape(n_img, classes * top_k)
        best = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :p.keep_top_k]
        chosen = torch.zeros_like(flat, dtype=torch.bool).scatter(1, best, True)
        keep = keep & chosen.reshape(n_img, classes, top_k)
    # Row-major positions of the kept (image, class, candidate): Caffe's row order.
    where = torch.nonzero(keep)  # D x 3
    img, cls, k = where.unbind(1)
    prior_of = order[img, cls, k]
    table = torch.cat([img[:, None].to(torch.float32), cls[:, None].to(torch.float32),
                       cand_scores[img, cls, k][:, None], boxes[img, prior_of]], dim=1)
    # Nothing found in any image: one row per image, its index then -1s.
    empty = torch.cat([torch.arange(n_img, dtype=torch.float32, device=dev)[:, None],
                       torch.full((n_img, 6), -1.0, device=dev)], dim=1)
    nothing = ~keep.any()
    pick = torch.cat([torch.ones(table.shape[0], dtype=torch.bool, device=dev), nothing.expand(n_img)])
    return torch.cat([table, empty])[pick].reshape(1, 1, -1, 7)


def _nms(iou: torch.Tensor, valid: torch.Tensor, p, top_k: int) -> torch.Tensor:
    """Greedy NMS over the K candidates (best first) of each image and class, as
    ``top_k`` masked steps of ``torch.while_loop`` (one traced step, however large
    top_k): candidate i is kept when valid and no kept one before it overlaps it above
    the threshold (tightened by eta after each kept box while it is above 0.5)."""
    threshold = torch.full(valid.shape[:2], p.nms_threshold, dtype=torch.float32,
                           device=valid.device)
    steps = torch.eye(top_k, dtype=torch.bool, device=valid.device)

    def more(i, kept, threshold):
        return i < top_k

    def step(i, kept, threshold):
        at = i.reshape(1)
        column = torch.index_select(iou, 3, at).squeeze(3)  # overlap of each with i
        blocked = (kept & (column > threshold[..., None])).any(-1)
        keep_i = torch.index_select(valid, 2, at).squeeze(2) & ~blocked
        kept = kept | (keep_i[..., None] & torch.index_select(steps, 0, at))
        if p.eta < 1:
            threshold = torch.where(keep_i & (threshold > 0.5), threshold * p.eta, threshold)
        return i + 1, kept, threshold.clone()

    start = torch.zeros((), dtype=torch.int64, device=valid.device)
    return torch.while_loop(more, step, (start, torch.zeros_like(valid), threshold))[1]


@BACKEND.register("DetectionOutput")
def detection_output(ctx: Context) -> Op:
    p = ctx.layer.hparams
    priors = ctx.bottom_shapes[2][2] // 4

    def run(xs):
        loc, conf, prior = xs
        out = detections(loc, conf, prior, p, priors)
        return [out.to(loc.device, loc.dtype)]

    return Op(None, run)
