"""Training-only types: all registered and flagged, Python left unsupported, never run."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward


def run(layer, *bottoms):
    """Our forward; checks the tops against reshape() and that bottoms are untouched."""
    before = [b.copy() for b in bottoms]
    tops = layer.impl.forward(list(bottoms), layer.blobs)
    assert [t.shape for t in tops] == list(layer.impl.reshape([b.shape for b in bottoms]))
    assert all(t.dtype == np.float32 for t in tops)
    for b, c in zip(bottoms, before):
        np.testing.assert_array_equal(b, c)
    return tops


def net(inputs, body, tops=()):
    """A prototxt for OpenCV: inputs, the layer, and an identity Power per extra top
    (OpenCV's forward() only returns a layer's first top by name)."""
    lines = ['name: "t"'] + [
        f'input: "{n}" input_shape {{ {" ".join(f"dim: {d}" for d in a.shape)} }}'
        for n, a in inputs.items()
    ]
    lines.append(f"layer {{ {body} }}")
    lines += [f'layer {{ name: "out_{t}" type: "Power" bottom: "{t}" top: "out_{t}" }}' for t in tops]
    return "\n".join(lines)


def rand(shape, seed=0, lo=None, hi=None):
    rng = np.random.default_rng(seed)
    if lo is not None:
        return rng.uniform(lo, hi, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)

from convertkit.layers import impl_class, is_supported
from convertkit.layers.training_only import TRAINING_ONLY_TYPES


def test_registered_and_flagged():
    expected = {
        "Data", "ImageData", "ImageSegData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
        "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "EuclideanLoss", "HingeLoss", "InfogainLoss",
        "MultinomialLogisticLoss", "ContrastiveLoss", "Accuracy", "SegAccuracy", "Silence", "HDF5Output",
    }
    assert set(TRAINING_ONLY_TYPES) == expected
    for t in expected:
        cls = impl_class(t)
        assert cls.training_only and cls.num_bottoms == (0, None)
    assert not is_supported("Python")
    for t in ("ReLU", "BN", "Eltwise", "Softmax", "Input"):
        assert not impl_class(t).training_only


def test_never_runs():
    layer = make_layer('name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"')
    with pytest.raises(Exception, match=r"'loss'.*SoftmaxWithLoss is a training-only layer"):
        layer.impl.reshape([(1, 19, 5, 5), (1, 1, 5, 5)])
    with pytest.raises(Exception, match="training-only"):
        layer.impl.forward([], [])
    assert layer.impl.flops([], []) == 0
