"""The schema: generated module up to date, private pool, protobuf runtime independence."""
import os
import subprocess
import sys
import textwrap

import pytest

from caffe_protos import generate
from convertkit.caffe.proto import caffe_pb2, parse_text, pool


def test_generated_module_matches_proto():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) is not installed")
    # In a fresh process: protoc's native module crashes beside TensorFlow's own protobuf
    # and absl, which other tests of this session load.
    res = subprocess.run([sys.executable, "-m", "caffe_protos.generate", "--check"],
                         capture_output=True, text=True, cwd=generate.HERE.parent)
    assert res.returncode == 0, f"regenerate with python -m caffe_protos.generate: {res.stdout}{res.stderr}"


def test_fork_and_bvlc_field_numbers():
    lp = caffe_pb2().LayerParameter.DESCRIPTOR.fields_by_name
    assert lp["interp_param"].number == 143
    assert lp["bn_param"].number == 152
    assert lp["convolution_param"].number == 106
    assert lp["blobs"].number == 7
    blob = caffe_pb2().BlobProto.DESCRIPTOR.fields_by_name
    assert (blob["shape"].number, blob["data"].number, blob["double_data"].number) == (7, 5, 8)
    assert blob["data"].is_packed
    net = caffe_pb2().NetParameter.DESCRIPTOR.fields_by_name
    assert (net["layer"].number, net["layers"].number) == (100, 2)
    bn = caffe_pb2().BNParameter.DESCRIPTOR.fields_by_name
    assert (bn["slope_filler"].number, bn["eps"].number, bn["frozen"].number) == (1, 4, 5)
    interp = caffe_pb2().InterpParameter.DESCRIPTOR.fields_by_name
    assert [interp[f].number for f in ("height", "width", "zoom_factor", "shrink_factor",
                                       "pad_beg", "pad_end")] == [1, 2, 3, 4, 5, 6]


def test_defaults_follow_caffe():
    pb = caffe_pb2()
    assert pb.BNParameter().eps == pytest.approx(1e-5)
    assert pb.ConvolutionParameter().bias_term is True
    assert pb.EltwiseParameter().operation == pb.EltwiseParameter.SUM
    assert pb.ConcatParameter().axis == 1


def test_private_pool_is_not_the_default_pool():
    from google.protobuf import descriptor_pool

    assert pool() is not descriptor_pool.Default()
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("caffe.NetParameter")


USE_OURS = """
from convertkit.caffe.proto import parse_text
net = parse_text('name: "x" layer { name: "a" type: "BN" bn_param { eps: 0.001 } }')
assert abs(net.layer[0].bn_param.eps - 0.001) < 1e-9
print("ok")
"""

OTHER_TOOL = """
from google.protobuf import descriptor_pb2, descriptor_pool
# Another tool registers its own, different, package `caffe` first.
fd = descriptor_pb2.FileDescriptorProto(name="caffe.proto", package="caffe")
m = fd.message_type.add(name="NetParameter")
m.field.add(name="other", number=1, type=9, label=1)
descriptor_pool.Default().Add(fd)
"""

GENERATED = """
# the protoc module (installed as convertkit._caffe_protos) registers package caffe in the
# default pool
import convertkit._caffe_protos.caffe_pb2
"""


@pytest.mark.parametrize("first", [OTHER_TOOL, GENERATED], ids=["other-tool", "generated-module"])
def test_no_clash_with_another_caffe_package_in_the_same_process(first):
    out = subprocess.run([sys.executable, "-c", first + USE_OURS], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_works_with_the_pure_python_protobuf_backend(tmp_path):
    code = textwrap.dedent("""
        from google.protobuf.internal import api_implementation
        assert api_implementation.Type() == "python", api_implementation.Type()
        from convertkit.caffe.proto import parse_text
        net = parse_text('layer { name: "i" type: "Interp" interp_param { shrink_factor: 2 } }')
        assert net.layer[0].interp_param.HasField("shrink_factor")
        assert not net.layer[0].interp_param.HasField("zoom_factor")
        print("ok")
    """)
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_supported_runtime_range():
    import google.protobuf

    major = int(google.protobuf.__version__.split(".")[0])
    # pyproject: protobuf>=4.21,<8 (5.x reports itself as 5.x, 4.21+ as 4.x)
    assert 4 <= major < 8, google.protobuf.__version__


def test_field_presence_is_tracked():
    net = parse_text('layer { interp_param { zoom_factor: 1 } }')
    assert net.layer[0].interp_param.HasField("zoom_factor")
    assert not net.layer[0].interp_param.HasField("height")
