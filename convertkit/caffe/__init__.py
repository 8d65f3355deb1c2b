"""Reading Caffe's files, without Caffe: the first stage.

``sniff`` says what a file is from its first bytes; ``textproto`` parses protobuf
text and ``prototxt`` turns it into Caffe's messages, upgrading old formats (V1
layers, ``input_dim``) on the way; ``proto`` compiles the schema (``caffe.proto``, or
a fork's through ``userproto``); ``wire`` scans a caffemodel's bytes for the learned
params without decoding them whole; ``loader`` puts the two files together into a
:class:`~convertkit.graph.Net`. This package builds the IR and imports nothing from
the stages after it.
"""
