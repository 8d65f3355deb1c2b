"""Runtimes: the same net run by convertkit's numpy reference or another framework.

Every runtime implements :class:`~convertkit.runtime.base.Runtime`; they are found by
name through :func:`create`. A framework is imported only when its runtime is used.
"""
from __future__ import annotations

from .caffe import OWN_BUILD
from .base import (Runtime, create, installed_runtimes, register_runtime, resolve_keep,
                   runtime_class, runtime_infos)

register_runtime("numpy", "convertkit.runtime.numpy:NumpyRuntime",
                 about="convertkit's Caffe-exact reference (numpy, float32)")
register_runtime("opencv", "convertkit.runtime.opencv:OpenCVRuntime", requires=("cv2",),
                 extra="opencv", about="OpenCV dnn's Caffe importer, an outside oracle")
register_runtime("torch", "convertkit.runtime.torch:TorchRuntime", requires=("torch",),
                 extra="torch", about="PyTorch modules built from the graph")
register_runtime("onnx", "convertkit.runtime.onnx:OnnxRuntime", requires=("onnx", "onnxruntime"),
                 extra="onnx", about="the ONNX model convertkit writes, run by onnxruntime")
register_runtime("tf", "convertkit.runtime.tf:TFRuntime", requires=("tensorflow",),
                 extra="tensorflow", about="a Keras 3 model built from the graph, run by TF")
register_runtime("caffe", "convertkit.runtime.caffe:CaffeRuntime", requires=("caffe",),
                 about="real Caffe through your own pycaffe build: the gold standard",
                 own_build=OWN_BUILD)

__all__ = ["Runtime", "create", "installed_runtimes", "register_runtime", "resolve_keep",
           "runtime_class", "runtime_infos"]
