"""The fast prototxt path gives exactly protobuf text_format's message, or steps aside."""
import pytest
from google.protobuf import text_format

from convertkit import zoo
from convertkit.caffe.prototxt import parse_prototxt_text
from convertkit.caffe.proto import caffe_pb2, pool
from convertkit.caffe.textproto import parse_into


def reference(text):
    msg = caffe_pb2().NetParameter()
    text_format.Parse(text, msg, descriptor_pool=pool())
    return msg.SerializeToString(deterministic=True)


def fast(text):
    msg = caffe_pb2().NetParameter()
    ok = parse_into(text, msg)
    return ok, msg.SerializeToString(deterministic=True)


def test_official_definitions_take_the_fast_path_and_agree(official_prototxt):
    text = official_prototxt.read_text()
    ok, got = fast(text)
    assert ok and got == reference(text)


@pytest.mark.parametrize("name", ["icnet", "pspnet50", "pspnet101"])
def test_zoo_definitions_agree(name):
    text = zoo.make_prototxt(name, width=0.125)
    ok, got = fast(text)
    assert ok and got == reference(text)


SUBSET = [
    'name: "n" # comment\ninput: "data"\ninput_dim: 1 input_dim: 3',
    "layer { name: 'a' type: \"Pooling\" pooling_param { pool: AVE kernel_size: 3 } }",
    'layer { name: "b" bn_param: { eps: 1e-3 frozen: true momentum: .95 } }',
    'layer { name: "c" relu_param { negative_slope: -0.1 } propagate_down: 0 phase: TEST }',
    'layer { include { phase: TRAIN } } layer { } force_backward: True',
]


@pytest.mark.parametrize("text", SUBSET)
def test_subset_agrees(text):
    ok, got = fast(text)
    assert ok and got == reference(text)


OUTSIDE = [
    'name: "a\\"b"',                                   # escapes
    "input_dim: [1, 3, 4, 4]",                         # list syntax
    'name: "a" name: "b"',                             # duplicate singular field
    'layer { name: "a" ',                              # unbalanced
    'layer { tpye: "ReLU" }',                          # unknown field
    "layer { pooling_param { pool: MEAN } }",          # unknown enum value
    "input_dim: 1.5",                                  # float for an int
    "layer < name: 'x' >",                             # angle brackets
]


@pytest.mark.parametrize("text", OUTSIDE)
def test_everything_else_falls_back_to_text_format(text):
    ok, got = fast(text)
    assert not ok and got == b""  # the message is left empty
    try:
        want = reference(text)
    except text_format.ParseError as exc:
        with pytest.raises(Exception) as err:
            parse_prototxt_text(text, "x.prototxt")
        assert f"x.prototxt:{exc.GetLine()}:{exc.GetColumn()}" in str(err.value)
    else:
        assert parse_prototxt_text(text).SerializeToString(deterministic=True) == want
