"""The wire-level caffemodel scanner and writer, checked against protobuf's own
serializer/parser as an independent implementation of the format."""
import numpy as np
import pytest

from convertkit.errors import CaffemodelError
from convertkit.graph import Layer, Net
from convertkit.caffe.proto import caffe_pb2, parse_text
from convertkit.caffe.wire import parse_caffemodel, read_caffemodel, save_caffemodel

RNG = np.random.default_rng(0)


def _net_bytes(build) -> bytes:
    net = caffe_pb2().NetParameter()
    build(net)
    return net.SerializeToString()


def test_packed_blobs_are_zero_copy_views_with_the_right_values():
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)

    def build(net):
        net.name = "n"
        lp = net.layer.add(name="conv", type="Convolution")
        lp.convolution_param.num_output = 4
        for arr in (w, b):
            blob = lp.blobs.add()
            blob.shape.dim.extend(arr.shape)
            blob.data.extend(arr.ravel().tolist())

    buf = bytearray(_net_bytes(build))
    model = parse_caffemodel(buf)
    (layer,) = model.layers
    assert (layer.name, layer.type) == ("conv", "Convolution")
    np.testing.assert_array_equal(layer.blobs[0].data, w)
    np.testing.assert_array_equal(layer.blobs[1].data, b)
    assert layer.blobs[0].data.dtype == np.float32
    # zero-copy: the array's memory is the file buffer
    assert np.shares_memory(layer.blobs[0].data, np.frombuffer(buf, np.uint8))
    # the hyper-parameters survive for caffemodel-only use
    assert layer.params().convolution_param.num_output == 4
    assert model.header().name == "n"


def test_legacy_shapes_double_data_and_unpacked_floats():
    vals = RNG.standard_normal(6)

    def build(net):
        lp = net.layer.add(name="ip", type="InnerProduct")
        blob = lp.blobs.add(num=1, channels=1, height=2, width=3)
        blob.double_data.extend(vals.tolist())
        blob2 = lp.blobs.add(num=1, channels=1, height=1, width=2)
        blob2.data.extend([1.5, -2.0])

    raw = _net_bytes(build)
    model = parse_caffemodel(raw)
    b0, b1 = model.layers[0].blobs
    assert b0.legacy_shape and b0.data.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(b0.data.ravel(), vals.astype(np.float32))
    np.testing.assert_array_equal(b1.data.ravel(), [1.5, -2.0])

    # An old writer that did not pack `data`: one tag per float (wire type 5).
    import struct
    blob = bytearray()
    for v in (0.25, -1.0, 3.0):
        blob += bytes([(5 << 3) | 5]) + struct.pack("<f", v)
    layer = bytes([(1 << 3) | 2, 1]) + b"x" + bytes([(7 << 3) | 2, len(blob)]) + blob
    data = bytes([0xA2, 0x06, len(layer)]) + layer  # field 100, wire type 2
    (lay,) = parse_caffemodel(bytearray(data)).layers
    np.testing.assert_array_equal(lay.blobs[0].data, [0.25, -1.0, 3.0])


def test_v1_layers_and_input_param_alias():
    def build(net):
        v1 = net.layers.add(name="c1", type=caffe_pb2().V1LayerParameter.CONVOLUTION)
        blob = v1.blobs.add(num=2, channels=1, height=1, width=1)
        blob.data.extend([1.0, 2.0])

    (lay,) = parse_caffemodel(_net_bytes(build)).layers
    assert (lay.name, lay.type, lay.v1) == ("c1", "Convolution", True)

    # BVLC writes Input's input_param as field 143 (our interp_param); it is remapped.
    shape = caffe_pb2().BlobShape(dim=[1, 3, 8, 8]).SerializeToString()
    ip = bytes([0x0A, len(shape)]) + shape  # InputParameter.shape = 1
    body = (bytes([0x0A, 4]) + b"data" + bytes([0x12, 5]) + b"Input"
            + bytes([0xFA, 0x08, len(ip)]) + ip)  # key of field 143 = 143<<3|2 = 0x47A
    data = bytes([0xA2, 0x06, len(body)]) + body
    (lay,) = parse_caffemodel(bytearray(data)).layers
    assert list(lay.params().input_param.shape[0].dim) == [1, 3, 8, 8]
    assert not lay.params().HasField("interp_param")


def _model_bytes(tmp_path):
    w = RNG.standard_normal((8, 3, 3, 3)).astype(np.float32)

    def build(net):
        lp = net.layer.add(name="conv", type="Convolution")
        blob = lp.blobs.add()
        blob.shape.dim.extend(w.shape)
        blob.data.extend(w.ravel().tolist())

    return _net_bytes(build)


@pytest.mark.parametrize("cut", [1, 7, 50, -1])
def test_truncated_file_names_the_byte_offset(tmp_path, cut):
    data = _model_bytes(tmp_path)
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[:cut] if cut > 0 else data[:-1])
    with pytest.raises(CaffemodelError) as err:
        read_caffemodel(path)
    msg = str(err.value)
    assert str(path) in msg and "byte" in msg


def test_trailing_garbage_and_text_files_are_refused(tmp_path):
    data = _model_bytes(tmp_path)
    path = tmp_path / "junk.caffemodel"
    path.write_bytes(data + b"\x07\xff")  # field 0 / bad wire type after the layers
    with pytest.raises(CaffemodelError, match=r"byte \d+"):
        read_caffemodel(path)
    text = tmp_path / "text.caffemodel"
    text.write_text('name: "net"\nlayer { name: "a" type: "ReLU" }\n')
    with pytest.raises(CaffemodelError, match="text prototxt"):
        read_caffemodel(text)
    with pytest.raises(CaffemodelError, match="empty"):
        parse_caffemodel(b"")


def test_blob_whose_shape_disagrees_with_its_data(tmp_path):
    def build(net):
        lp = net.layer.add(name="bad", type="Convolution")
        blob = lp.blobs.add()
        blob.shape.dim.extend([2, 2])
        blob.data.extend([1.0, 2.0, 3.0])

    with pytest.raises(CaffemodelError, match=r"layer 'bad'.*2x2 needs 4 values.*holds 3"):
        parse_caffemodel(_net_bytes(build), "m.caffemodel")


def test_missing_file_is_an_input_error(tmp_path):
    from convertkit.errors import InputFileError

    with pytest.raises(InputFileError, match="not found"):
        read_caffemodel(tmp_path / "nope.caffemodel")


def test_writer_output_parses_with_protobuf_and_round_trips(tmp_path):
    lp = parse_text('name: "s" type: "Scale" bottom: "x" top: "y" scale_param { bias_term: true }',
                    "LayerParameter")
    blobs = [RNG.standard_normal(5).astype(np.float32), RNG.standard_normal(5).astype(np.float32)]
    net = Net(name="tiny", inputs={"x": (1, 5, 2, 2)},
              layers=[Layer("s", "Scale", ["x"], ["y"], lp, blobs)])
    path = tmp_path / "t.caffemodel"
    save_caffemodel(net, path)
    msg = caffe_pb2().NetParameter()
    msg.ParseFromString(path.read_bytes())  # protobuf as the independent reader
    assert msg.name == "tiny" and list(msg.input) == ["x"]
    assert list(msg.input_shape[0].dim) == [1, 5, 2, 2]
    assert msg.layer[0].scale_param.bias_term
    np.testing.assert_array_equal(np.array(msg.layer[0].blobs[1].data, np.float32), blobs[1])
    back = read_caffemodel(path)
    np.testing.assert_array_equal(back.layers[0].blobs[0].data, blobs[0])
    # deterministic bytes
    save_caffemodel(net, tmp_path / "t2.caffemodel")
    assert (tmp_path / "t2.caffemodel").read_bytes() == path.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_a_scalar_blob_is_written_with_no_dims(tmp_path):
    """Caffe's shared PReLU slope and num_axes-0 Scale/Bias params are scalar blobs
    (shape ()): written with no dims, as Caffe writes them (a (1,) blob would make Caffe
    refuse the file: 'Cannot copy param 0 weights ... shape mismatch')."""
    import convertkit
    from convertkit.caffe.wire import read_caffemodel, save_caffemodel

    (tmp_path / "p.prototxt").write_text(
        'input: "x" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }\n'
        'layer { name: "p" type: "PReLU" bottom: "x" top: "y" prelu_param { channel_shared: true } }')
    net = convertkit.load(tmp_path / "p.prototxt")
    net.layers[0].params = [np.array(0.25, np.float32)]
    save_caffemodel(net, tmp_path / "p.caffemodel")
    raw = read_caffemodel(tmp_path / "p.caffemodel").layers[0].blobs[0]
    assert raw.data.shape == () and not raw.legacy_shape
    back = convertkit.load(tmp_path / "p.prototxt", tmp_path / "p.caffemodel")
    assert back.layers[0].params[0].shape == () and float(back.layers[0].params[0]) == 0.25
