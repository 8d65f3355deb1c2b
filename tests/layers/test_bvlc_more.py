"""BVLC's Swish, Clip, Tile, Reduction and Embed: the formula of each layer's
Forward_cpu on exact numbers, the shape rules and refusals, and the caffemodel field
numbers BVLC writes (Embed 137, Tile 138) read back."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError

from support import assert_close, make_layer, rand, run_layer


def test_swish_is_x_times_sigmoid_of_beta_x():
    x = rand((2, 3, 4, 5), 1) * 3
    for beta, param in ((1.0, ""), (0.5, "swish_param { beta: 0.5 }")):
        layer = make_layer(f'name: "s" type: "Swish" bottom: "x" top: "s" {param}')
        x64 = x.astype(np.float64)
        assert_close(run_layer(layer, x)[0], x64 / (1 + np.exp(-beta * x64)), rel=1e-6)


def test_clip_bounds_and_its_required_params():
    x = np.array([-3, -1, 0, 0.5, 2, 9], np.float32)
    layer = make_layer('name: "c" type: "Clip" bottom: "x" top: "c" clip_param { min: -1 max: 2 }')
    assert run_layer(layer, x)[0].tolist() == [-1, -1, 0, 0.5, 2, 2]
    upside_down = make_layer('name: "c" type: "Clip" bottom: "x" top: "c" clip_param { min: 3 max: 1 }')
    assert run_layer(upside_down, x)[0].tolist() == [3] * 6  # std::max(min, std::min(x, max))
    with pytest.raises(PrototxtError, match="Clip needs clip_param"):
        make_layer('name: "c" type: "Clip" bottom: "x" top: "c"').impl


def test_tile_repeats_each_block_from_the_axis_on():
    x = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    layer = make_layer('name: "t" type: "Tile" bottom: "x" top: "t" tile_param { axis: 1 tiles: 2 }')
    got = run_layer(layer, x)[0]
    assert got.shape == (2, 6, 2)
    np.testing.assert_array_equal(got, np.concatenate([x, x], axis=1))
    last = make_layer('name: "t" type: "Tile" bottom: "x" top: "t" tile_param { axis: -1 tiles: 3 }')
    np.testing.assert_array_equal(run_layer(last, x)[0], np.tile(x, (1, 1, 3)))
    with pytest.raises(ShapeError, match="Tile needs tile_param"):
        make_layer('name: "t" type: "Tile" bottom: "x" top: "t"').impl.reshape([(2, 3)])


@pytest.mark.parametrize("op, axis, coeff, expect", [
    ("SUM", 1, 1.0, lambda r: r.sum(1)),
    ("ASUM", 1, 2.0, lambda r: 2 * np.abs(r).sum(1)),
    ("SUMSQ", 2, 1.0, lambda r: (r * r).sum(1)),
    ("MEAN", 1, 3.0, lambda r: 3 * r.mean(1)),
    ("MEAN", 0, 1.0, lambda r: r.mean(1)),
])
def test_reduction_over_every_axis_from_axis_on(op, axis, coeff, expect):
    x = rand((2, 3, 4), 2)
    layer = make_layer(f'name: "r" type: "Reduction" bottom: "x" top: "r" reduction_param '
                       f'{{ operation: {op} axis: {axis} coeff: {coeff} }}')
    got = run_layer(layer, x)[0]
    assert got.shape == x.shape[:axis] == layer.impl.reshape([x.shape])[0]
    rows = x.astype(np.float64).reshape(int(np.prod(x.shape[:axis])), -1)
    assert_close(got.reshape(-1), expect(rows), rel=1e-6)


def test_embed_looks_up_rows_and_adds_the_bias():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    b = np.array([0.5, -1, 2], np.float32)
    layer = make_layer('name: "e" type: "Embed" bottom: "x" top: "e" embed_param '
                       '{ num_output: 3 input_dim: 4 }', [w, b])
    x = np.array([[0, 3], [2.7, 1]], np.float32)  # 2.7 is truncated to 2, as Caffe's cast
    got = run_layer(layer, x)[0]
    assert got.shape == (2, 2, 3)
    np.testing.assert_array_equal(got, w[[[0, 3], [2, 1]]] + b)
    assert layer.impl.param_shapes([x.shape]) == [(4, 3), (3,)]
    with pytest.raises(ShapeError, match="index 4 is outside the table of 4 rows"):
        run_layer(layer, np.array([4.0], np.float32))
    plain = make_layer('name: "e" type: "Embed" bottom: "x" top: "e" embed_param '
                       '{ num_output: 3 input_dim: 4 bias_term: false }', [w])
    assert plain.impl.param_roles() == ("weight",)


@pytest.mark.parametrize("type_, number, block", [
    ("Embed", 137, "embed_param { num_output: 3 input_dim: 4 }"),
    ("Tile", 138, "tile_param { axis: 1 tiles: 2 }"),
])
def test_bvlc_field_numbers_of_embed_and_tile_are_read(type_, number, block, tmp_path):
    """BVLC writes embed_param and tile_param as fields 137 and 138 (SegNet's numbers in
    this schema): a caffemodel alone still gives their parameters."""
    import convertkit
    from convertkit.caffe.proto import parse_text
    from convertkit.caffe.wire import _encode_varint, _key, WIRE_LEN

    lp = parse_text(f'name: "l" type: "{type_}" bottom: "x" top: "y" {block}', "LayerParameter")
    if type_ == "Embed":  # its table and bias
        for shape in ((4, 3), (3,)):
            blob = lp.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend([0.0] * int(np.prod(shape)))
    inner = getattr(lp, block.split()[0]).SerializeToString()
    lp.ClearField(block.split()[0])
    layer = lp.SerializeToString() + _key(number, WIRE_LEN) + _encode_varint(len(inner)) + inner
    head = parse_text('input: "x" input_shape { dim: 2 dim: 3 }').SerializeToString()
    path = tmp_path / "bvlc.caffemodel"
    path.write_bytes(head + _key(100, WIRE_LEN) + _encode_varint(len(layer)) + layer)
    net = convertkit.load(path)
    got = getattr(net.layers[0].proto, block.split()[0])
    assert got == getattr(parse_text(f'name: "l" {block}', "LayerParameter"), block.split()[0])


#: One small net per new type (Embed reads indices made by a Power layer's rounding-free
#: affine map of integer inputs), in the layouts the backends treat differently.
NETS = {
    "Swish": ('input: "x" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
              'layer { name: "s" type: "Swish" bottom: "x" top: "s" swish_param { beta: 1.7 } }'),
    "Clip": ('input: "x" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
             'layer { name: "c" type: "Clip" bottom: "x" top: "c" clip_param { min: -0.5 max: 0.8 } }'),
    "Tile": ('input: "x" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
             'layer { name: "t" type: "Tile" bottom: "x" top: "t" tile_param { axis: 2 tiles: 3 } }'),
    "Tile3d": ('input: "x" input_shape { dim: 2 dim: 3 dim: 4 }',
               'layer { name: "t" type: "Tile" bottom: "x" top: "t" tile_param { axis: -1 tiles: 2 } }'),
    "Reduction": ('input: "x" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                  'layer { name: "r" type: "Reduction" bottom: "x" top: "r" reduction_param '
                  '{ operation: MEAN axis: 2 coeff: 1.5 } }'),
    "Reduction0": ('input: "x" input_shape { dim: 2 dim: 3 }',
                   'layer { name: "r" type: "Reduction" bottom: "x" top: "r" reduction_param '
                   '{ operation: SUMSQ axis: 0 } }\n'
                   'layer { name: "p" type: "Power" bottom: "r" top: "p" power_param { scale: 0.5 shift: 0.25 } }'),
    "Embed": ('input: "x" input_shape { dim: 2 dim: 3 }',
              'layer { name: "e" type: "Embed" bottom: "x" top: "e" embed_param '
              '{ num_output: 4 input_dim: 6 } }'),
}


@pytest.mark.parametrize("runtime", ["torch", "onnx", "tf"])
@pytest.mark.parametrize("case", sorted(NETS))
def test_every_runtime_computes_what_caffe_does(case, runtime, tmp_path):
    pytest.importorskip({"torch": "torch", "onnx": "onnxruntime", "tf": "tensorflow"}[runtime])
    import convertkit
    from convertkit.runtime import create

    head, body = NETS[case]
    path = tmp_path / "net.prototxt"
    path.write_text(head + "\n" + body)
    net = convertkit.load(path)
    rng = np.random.default_rng(3)
    for layer in net.layers:
        layer.params = [rng.standard_normal(s).astype(np.float32)
                        for s in layer.impl.param_shapes(net.plan().bottom_shapes(layer))]
    shape = net.inputs["x"]
    x = (rng.integers(0, 6, shape) if case == "Embed" else rng.standard_normal(shape)).astype(np.float32)
    ref = create("numpy", net).forward({"x": x}, keep="all")
    got = create(runtime, net).forward({"x": x}, keep="all")
    for name, value in ref.items():
        assert got[name].shape == value.shape, (name, got[name].shape, value.shape)
        assert_close(got[name], value, rel=1e-5, what=name)
