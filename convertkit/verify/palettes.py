"""Colours for predicted classes: the palettes of the datasets the released models
were trained on, chosen by class count (19 Cityscapes, 150 ADE20K, 21 PASCAL VOC).

Any other count gets VOC's bit-interleaved palette, which has a distinct colour for
each of 256 classes (and repeats after that).
"""
from __future__ import annotations

import numpy as np

#: Cityscapes' 19 training classes (trainId order) and their official colours.
CITYSCAPES = (
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)), ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)), ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)), ("rider", (255, 0, 0)), ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
)

#: PASCAL VOC 2012's 21 classes (background first); colours from :func:`voc_colours`.
VOC_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "dining table", "dog", "horse", "motorbike", "person", "potted plant",
    "sheep", "sofa", "train", "tv/monitor",
)

#: ADE20K's 150 classes of the MIT scene-parsing benchmark (SceneParse150), in the
#: order of the released PSPNet's outputs (its class 1, "wall", is output 0).
ADE20K_NAMES = tuple(n.strip() for n in """
wall, building, sky, floor, tree, ceiling, road, bed, windowpane, grass, cabinet, sidewalk,
person, earth, door, table, mountain, plant, curtain, chair, car, water, painting, sofa,
shelf, house, sea, mirror, rug, field, armchair, seat, fence, desk, rock, wardrobe, lamp,
bathtub, railing, cushion, base, box, column, signboard, chest of drawers, counter, sand,
sink, skyscraper, fireplace, refrigerator, grandstand, path, stairs, runway, case,
pool table, pillow, screen door, stairway, river, bridge, bookcase, blind, coffee table,
toilet, flower, book, hill, bench, countertop, stove, palm, kitchen island, computer,
swivel chair, boat, bar, arcade machine, hovel, bus, towel, light, truck, tower,
chandelier, awning, streetlight, booth, television receiver, airplane, dirt track, apparel,
pole, land, bannister, escalator, ottoman, bottle, buffet, poster, stage, van, ship,
fountain, conveyer belt, canopy, washer, plaything, swimming pool, stool, barrel, basket,
waterfall, tent, bag, minibike, cradle, oven, ball, food, step, tank, trade name,
microwave, pot, animal, bicycle, lake, dishwasher, screen, blanket, sculpture, hood,
sconce, vase, traffic light, tray, ashcan, fan, pier, crt screen, plate, monitor,
bulletin board, shower, radiator, glass, clock, flag
""".split(","))

#: ADE20K colours in the same order, as the benchmark's colour table gives them.
_ADE20K = """
120 120 120  180 120 120    6 230 230   80  50  50    4 200   3  120 120  80  140 140 140
204   5 255  230 230 230    4 250   7  224   5 255  235 255   7  150   5  61  120 120  70
  8 255  51  255   6  82  143 255 140  204 255   4  255  51   7  204  70   3    0 102 200
 61 230 250  255   6  51   11 102 255  255   7  71  255   9 224    9   7 230  220 220 220
255   9  92  112   9 255    8 255 214    7 255 224  255 184   6   10 255  71  255  41  10
  7 255 255  224 255   8  102   8 255  255  61   6  255 194   7  255 122   8    0 255  20
255   8  41  255   5 153    6  51 255  235  12 255  160 150  20    0 163 255  140 140 140
250  10  15   20 255   0   31 255   0  255  31   0  255 224   0  153 255   0    0   0 255
255  71   0    0 235 255    0 173 255   31   0 255   11 200 200  255  82   0    0 255 245
  0  61 255    0 255 112    0 255 133  255   0   0  255 163   0  255 102   0  194 255   0
  0 143 255   51 255   0    0  82 255    0 255  41    0 255 173   10   0 255  173 255   0
  0 255 153  255  92   0  255   0 255  255   0 245  255   0 102  255 173   0  255   0  20
255 184 184    0  31 255    0 255  61    0  71 255  255   0 204    0 255 194    0 255  82
  0  10 255    0 112 255   51   0 255    0 194 255    0 122 255    0 255 163  255 153   0
  0 255  10  255 112   0  143 255   0   82   0 255  163 255   0  255 235   0    8 184 170
133   0 255    0 255  92  184   0 255  255   0  31    0 184 255    0 214 255  255   0 112
 92 255   0    0 224 255  112 224 255   70 184 160  163   0 255  153   0 255   71 255   0
255   0 163  255 204   0  255   0 143    0 255 235  133 255   0  255   0 235  245   0 255
255   0 122  255 245   0   10 190 212  214 255   0    0 204 255   20   0 255  255 255   0
  0 153 255    0  41 255    0 255 204   41   0 255   41 255   0  173   0 255    0 245 255
 71   0 255  122   0 255    0 255 184    0  92 255  184 255   0    0 133 255  255 214   0
 25 194 194  102 255   0   92   0 255
"""


def voc_colours(n: int = 256) -> np.ndarray:
    """PASCAL VOC's palette: the bits of the class index spread over R, G and B, from
    the high bit down (class 1 is dark red, 2 dark green, 3 olive ...)."""
    out = np.zeros((n, 3), np.uint8)
    for c in range(n):
        r = g = b = 0
        v = c
        for shift in range(7, -1, -1):
            r |= ((v >> 0) & 1) << shift
            g |= ((v >> 1) & 1) << shift
            b |= ((v >> 2) & 1) << shift
            v >>= 3
        out[c] = (r, g, b)
    return out


def ade20k_colours() -> np.ndarray:
    values = np.array(_ADE20K.split(), dtype=np.uint8).reshape(-1, 3)
    assert len(values) == 150, len(values)
    return values


def palette_name(classes: int | None) -> str:
    return {19: "cityscapes", 150: "ade20k", 21: "voc"}.get(classes or 0, "generic")


def palette(classes: int) -> tuple[np.ndarray, list[str] | None, str]:
    """(colours: classes x 3 uint8, class names or None, the palette's name)."""
    name = palette_name(classes)
    if name == "cityscapes":
        return np.array([c for _, c in CITYSCAPES], np.uint8), [n for n, _ in CITYSCAPES], name
    if name == "ade20k":
        return ade20k_colours(), list(ADE20K_NAMES), name
    if name == "voc":
        return voc_colours(21), list(VOC_NAMES), name
    base = voc_colours(256)
    return base[np.arange(classes) % 256], None, name


def colourise(labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """H x W class indices -> H x W x 3 uint8 RGB."""
    return colours[np.asarray(labels, np.int64) % len(colours)]
