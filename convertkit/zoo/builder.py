"""A small prototxt writer: functions that emit the Caffe blocks the zoo nets are
made of (conv + BN + ReLU, residual sums, pyramid pooling...), as protobuf text.

The text is generated, never copied: each helper knows which fields the released
PSPNet/ICNet definitions set on that kind of layer (e.g. ``pad: 0`` on the residual
1x1 convs but not on the pyramid-branch convs, four ``param`` blocks on every BN),
because message equality with the official files depends on field *presence*.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union


class Enum(str):
    """An enum value: written without quotes (``pool: MAX``)."""


Value = Union[int, float, bool, str, Enum, "Body"]
Body = list[tuple[str, Value]]


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Enum):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    return str(int(v))


def _render(body: Body, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    for key, value in body:
        if isinstance(value, list):
            out.append(f"{pad}{key} {{")
            _render(value, indent + 1, out)
            out.append(f"{pad}}}")
        else:
            out.append(f"{pad}{key}: {_scalar(value)}")


@dataclass
class NetBuilder:
    """Collects layers in order; :meth:`text` renders the whole definition."""

    input_shape: tuple[int, int, int, int]
    header: Sequence[str] = ()
    input_name: str = "data"
    layers: list[tuple[str, Body]] = field(default_factory=list)
    #: Whether convolutions are followed by BN (``bias_term: false``) or merged.
    bn: bool = True

    # -- raw ---------------------------------------------------------------------------
    def layer(self, name: str, type_: str, bottoms: Sequence[str], tops: Sequence[str],
              body: Body = ()) -> str:
        fields: Body = [("name", name), ("type", type_)]
        fields += [("bottom", b) for b in bottoms]
        fields += [("top", t) for t in tops]
        fields += list(body)
        self.layers.append((name, fields))
        return tops[0] if tops else name

    def text(self) -> str:
        out = [f"# {line}" if line else "#" for line in self.header]
        # Legacy input declaration, as in every released file: input + 4 input_dim.
        out.append(f'input: "{self.input_name}"')
        out += [f"input_dim: {d}" for d in self.input_shape]
        out.append("")
        for _, fields in self.layers:
            lines: list[str] = []
            _render(fields, 1, lines)
            out.append("layer {")
            out += lines
            out.append("}")
        return "\n".join(out) + "\n"

    # -- layer kinds -----------------------------------------------------------------------
    @staticmethod
    def _params(*mults: tuple[float, float]) -> Body:
        return [("param", [("lr_mult", lr), ("decay_mult", dm)]) for lr, dm in mults]

    def conv(self, name: str, bottom: str, num_output: int, kernel: int, *, stride: int = 1,
             pad: int | None = 0, dilation: int = 1, lr: float = 1, bias: bool = False,
             bias_lr: float | None = None) -> str:
        """A Convolution with an msra filler.

        ``bias=False`` is a conv feeding a BN: ``bias_term: false`` when BNs are kept,
        no bias_term field (so default true) when they are merged. ``bias=True`` is a
        classifier (conv6 / conv6_cls) whose second ``param`` block is ``bias_lr``.
        ``pad=None`` omits the field (the PSP branch convs and classifiers).
        """
        mults = [(lr, 1)]
        if bias and bias_lr is not None:
            mults.append((bias_lr, 1))
        cp: Body = [("num_output", num_output)]
        if not bias and self.bn:
            cp.append(("bias_term", False))
        if pad is not None:
            cp.append(("pad", pad))
        cp += [("kernel_size", kernel), ("stride", stride),
               ("weight_filler", [("type", "msra")])]
        if dilation != 1:
            cp.append(("dilation", dilation))
        return self.layer(name, "Convolution", [bottom], [name],
                          self._params(*mults) + [("convolution_param", cp)])

    def bn_layer(self, conv: str, lr: float = 1, mean_decay: float = 0) -> str:
        """``<conv>/bn`` in place. Blobs slope, bias, mean, variance; the last two are
        never learned (lr_mult 0). ``mean_decay`` reproduces a released quirk (the
        ADE20K PSPNet50's conv5_4/bn has decay_mult 1 on its mean)."""
        if not self.bn:
            return conv
        body = self._params((lr, 0), (lr, 0), (0, mean_decay), (0, 0)) + [
            ("bn_param", [
                ("slope_filler", [("type", "constant"), ("value", 1)]),
                ("bias_filler", [("type", "constant"), ("value", 0)]),
                ("frozen", True),
                ("momentum", 0.95),
            ])
        ]
        self.layer(f"{conv}/bn", "BN", [conv], [conv], body)
        return conv

    def relu(self, blob: str) -> str:
        self.layer(f"{blob}/relu", "ReLU", [blob], [blob])
        return blob

    def conv_bn(self, name: str, bottom: str, num_output: int, kernel: int, *,
                relu: bool = True, lr: float = 1, **kw) -> str:
        self.conv(name, bottom, num_output, kernel, lr=lr, **kw)
        self.bn_layer(name, lr=lr)
        if relu:
            self.relu(name)
        return name

    def eltwise_sum(self, name: str, bottoms: Sequence[str], explicit: bool = True) -> str:
        """Residual sums spell ``operation: SUM``; ICNet's fusion sums leave the default."""
        body: Body = [("eltwise_param", [("operation", Enum("SUM"))])] if explicit else []
        return self.layer(name, "Eltwise", bottoms, [name], body)

    def pool(self, name: str, bottom: str, method: str, kernel: tuple[int, int],
             stride: tuple[int, int], pad: int = 0) -> str:
        """Square windows use kernel_size/stride, others kernel_h/_w, stride_h/_w."""
        pp: Body = [("pool", Enum(method))]
        if kernel[0] == kernel[1] and stride[0] == stride[1]:
            pp += [("kernel_size", kernel[0]), ("stride", stride[0])]
        else:
            pp += [("kernel_h", kernel[0]), ("kernel_w", kernel[1]),
                   ("stride_h", stride[0]), ("stride_w", stride[1])]
        if pad:
            pp.append(("pad", pad))
        return self.layer(name, "Pooling", [bottom], [name], [("pooling_param", pp)])

    def interp(self, name: str, bottom: str, *, size: tuple[int, int] | None = None,
               zoom: int | None = None, shrink: int | None = None) -> str:
        ip: Body = []
        if size is not None:
            ip += [("height", size[0]), ("width", size[1])]
        if zoom is not None:
            ip.append(("zoom_factor", zoom))
        if shrink is not None:
            ip.append(("shrink_factor", shrink))
        return self.layer(name, "Interp", [bottom], [name], [("interp_param", ip)])

    def concat(self, name: str, bottoms: Sequence[str]) -> str:
        return self.layer(name, "Concat", bottoms, [name])

    def dropout(self, name: str, blob: str, ratio: float) -> str:
        self.layer(name, "Dropout", [blob], [blob], [("dropout_param", [("dropout_ratio", ratio)])])
        return blob

    def scale(self, name: str, bottom: str) -> str:
        return self.layer(name, "Scale", [bottom], [name])

    # -- composite -------------------------------------------------------------------------
    def bottleneck(self, prefix: str, bottom: str, mid: int, out: int, *, stride: int = 1,
                   dilation: int = 1, project: bool = False, stride_on_3x3: bool = False) -> str:
        """A ResNet bottleneck as both releases write it: 1x1 reduce, 3x3 (dilated in
        stages 4/5), 1x1 increase (BN, no ReLU), optional 1x1 projection of the
        input, Eltwise SUM (projection or input first), then ReLU."""
        s_reduce, s_3x3 = (1, stride) if stride_on_3x3 else (stride, 1)
        x = self.conv_bn(f"{prefix}_1x1_reduce", bottom, mid, 1, stride=s_reduce, pad=0)
        x = self.conv_bn(f"{prefix}_3x3", x, mid, 3, stride=s_3x3, pad=dilation,
                         dilation=dilation)
        inc = self.conv_bn(f"{prefix}_1x1_increase", x, out, 1, pad=0, relu=False)
        shortcut = bottom
        if project:
            shortcut = self.conv_bn(f"{prefix}_1x1_proj", bottom, out, 1, stride=stride,
                                    pad=0, relu=False)
        self.eltwise_sum(prefix, [shortcut, inc])
        return self.relu(prefix)
