"""Training-only types: all registered and flagged, never run; Python layers refused by name."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.layers import impl_class, is_supported
from convertkit.layers.training_only import TRAINING_ONLY_TYPES


def test_registered_and_flagged():
    expected = {
        "Data", "ImageData", "ImageSegData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
        "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "EuclideanLoss", "HingeLoss", "InfogainLoss",
        "MultinomialLogisticLoss", "ContrastiveLoss", "Accuracy", "SegAccuracy", "Silence", "HDF5Output",
        "MatWrite", "DenseImageData", "AnnotatedData",
    }
    assert set(TRAINING_ONLY_TYPES) == expected
    for t in expected:
        cls = impl_class(t)
        assert cls.training_only and cls.num_bottoms == (0, None)
    # Python layers are known, and refused with their module and class named.
    assert is_supported("Python") and not impl_class("Python").training_only
    for t in ("ReLU", "BN", "Eltwise", "Softmax", "Input"):
        assert not impl_class(t).training_only


def test_never_runs():
    layer = make_layer('name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"')
    with pytest.raises(Exception, match=r"'loss'.*SoftmaxWithLoss is a training-only layer"):
        layer.impl.reshape([(1, 19, 5, 5), (1, 1, 5, 5)])
    with pytest.raises(Exception, match="training-only"):
        layer.impl.forward([], [])
    assert layer.impl.macs([], []) == 0


def test_python_layers_are_refused_naming_module_and_class():
    from convertkit.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match=r"layer 'proposal': is a Python layer "
                       r"\(module rpn.proposal_layer, class ProposalLayer\)"):
        make_layer('name: "proposal" type: "Python" bottom: "a" top: "b" '
                   'python_param { module: "rpn.proposal_layer" layer: "ProposalLayer" }').impl
