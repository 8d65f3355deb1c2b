"""What users do with a converted net: segment images (``segment``), score a
segmentation against labels (``evaluate``), and summarise a net's size and speed
(``summary``, behind ``inspect --benchmark``). The last stage before the CLI.
"""
