"""A stand-in for pycaffe with its interface (Net, blobs, _layer_names, forward with
start/end, layer_type_list), computing with convertkit's numpy reference. It tests how
convertkit drives pycaffe (files, reshapes, per-layer passes, in-place blobs) where no
real Caffe is built; tests/test_caffe_runtime.py runs the real one where it exists."""
from collections import OrderedDict

import numpy as np

TEST = 1
#: Set by the tests: the layer types this "build" registers.
TYPES = None
#: What each Net() was built from, for the tests: (prototxt, caffemodel).
OPENED = []


def set_mode_cpu():
    pass


def layer_type_list():
    from convertkit.layers import registered_types

    return list(TYPES) if TYPES is not None else registered_types()


class _Blob:
    def __init__(self, shape):
        self.data = np.zeros(shape, np.float32)

    def reshape(self, *shape):
        if tuple(shape) != self.data.shape:
            self.data = np.zeros(shape, np.float32)


class Net:
    def __init__(self, prototxt, *args):
        import convertkit

        model = args[0] if len(args) == 2 else None
        OPENED.append((prototxt, model))
        self._net = convertkit.load(prototxt, model)
        self._layer_names = [layer.name for layer in self._net.layers]
        self.blobs = OrderedDict()
        for name, shape in self._net.inputs.items():
            self.blobs[name] = _Blob(shape)
        self.reshape()

    def reshape(self):
        plan = self._net.plan({n: self.blobs[n].data.shape for n in self._net.inputs})
        for name, shape in plan.blobs.items():
            if name not in self.blobs:
                self.blobs[name] = _Blob(shape)
            self.blobs[name].reshape(*shape)

    def forward(self, start=None, end=None):
        names = self._layer_names
        i = names.index(start) if start else 0
        j = names.index(end) if end else len(names) - 1
        for layer in self._net.layers[i:j + 1]:
            tops = layer.impl.forward([self.blobs[b].data for b in layer.bottoms], layer.params)
            for t, a in zip(layer.tops, tops):
                self.blobs[t].reshape(*a.shape)
                self.blobs[t].data[...] = a
        return {o: self.blobs[o].data for o in self._net.outputs}
