"""``convertkit verify``: prove, layer by layer, that every runtime reading the
converted files computes what Caffe computes (the numpy reference runtime).

    from convertkit import load
    from convertkit.verify import Options, Verifier, samples_from_images
    net = load("icnet.prototxt", "icnet.caffemodel")
    result = Verifier(net, Options(rtol=1e-4, bn="both")).run(
        samples_from_images(net, ["street.png"]))
    result.report["verdict"], result.report["first_divergence"]

:mod:`.inputs` prepares the samples, :mod:`.selection` picks runtimes and formats,
:mod:`.subjects` turns converted files into runners, :mod:`.reference` runs the numpy
reference, :mod:`.metrics` compares blobs, :mod:`.pipeline` runs everything and
:mod:`.entries` builds the report object's parts, :mod:`.report` writes
it as JSON, Markdown and HTML, and :mod:`.golden` keeps compact fingerprints of a
model's outputs for CI.
"""
from __future__ import annotations

from .inputs import Sample, sample_from_array, samples_from_images
from .pipeline import SCHEMA, Options, Result, Verifier

__all__ = ["SCHEMA", "Options", "Result", "Sample", "Verifier", "sample_from_array",
           "samples_from_images"]
