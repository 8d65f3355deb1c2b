"""Reading Caffe's files, without Caffe: the first stage of the pipeline.

``sniff`` says what a file is from its first bytes; ``prototxt`` parses a net's text
(``textproto`` is the fast path for the plain subset real prototxts use), upgrades
old formats (V0 and V1 layers, DeepLab-v1's holes) and filters by phase;
``proto`` builds Caffe's message classes from a private descriptor pool, or from a
user's own ``caffe.proto`` through ``userproto``; ``wire`` reads and writes
caffemodels at the wire level, memory-mapped; ``loader`` puts the two files together
into a :class:`~convertkit.graph.Net`, after importing installed plugins. This
package builds the IR and imports nothing from the stages after it.
"""
