"""Small image classifiers that train in minutes on two cores: a teacher and its students.

Both take 1 × ``channels`` × ``size`` × ``size`` images (28 × 28 grey digits by default)
and, like every zoo builder, take ``weights`` to build the trained network instead of the
seeded one: training and export go through this one definition.

- ``resnet8`` (the teacher): a 3 × 3 stem, three stages of one basic residual block
  (``width``, 2 × ``width``, 4 × ``width`` channels; stride 2 from the second stage), global
  average pooling and a classifier: ResNet-8 in the sense of He et al. 2016, section 4.2.
- ``cnn_student`` (the students): four plain 3 × 3 convolutions (``width`` × 1, 2, 4, 8
  channels; stride 1, 2, 2, 2), global average pooling and a classifier. The width is the
  family's parameter.
- ``resnet8_exits`` (early exits): ``resnet8`` with a small classifier after stage 1 and
  after stage 2 (``exit1``, ``exit2``: two or one 3 × 3 stride-2 convolutions, global
  average pooling and a gemm), trained jointly with the final one. The graph has one output per
  head, in graph order (``exit1.fc``, ``exit2.fc``, ``fc``): the last is the final
  classifier. Each head's nodes follow its tap in execution order and are named
  ``exitN.…``, so a part can run the backbone "up to exit N" by name
  (``models.exits.heads``).
- ``nonn_student`` (distilled students, ``models.ensemble``): three plain convolutions
  (``width`` × 1, 2, 4; strides 1, 2, 2) and a fourth of ``features`` channels (stride 1)
  whose pooled output ``pool.flatten`` is what the student sends to the aggregator; its
  own ``fc`` is used only while distilling; ``nonn_aggregator`` is one gemm over the
  students' concatenated features.

Every convolution's output channels are addressable by the layer's name (``stem``,
``s2.b1.conv1``, ``conv3`` …): ``models.accuracy`` zeroes channels by those names. The
pooled features (``pool.flatten``) are a cut point, so a student's feature extractor and its
classifier can be split onto different devices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from models.zoo.cnn import residual_block
from models.zoo.graph import Graph


def resnet8(
    seed: int = 0,
    classes: int = 10,
    width: int = 16,
    channels: int = 1,
    size: int = 28,
    weights: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """ResNet-8 teacher for small images: stem and three one-block stages, width 16."""
    g = Graph("resnet8", seed, weights)
    x = g.input("input", [1, channels, size, size])
    x = g.conv(x, "stem", channels, width, 3)
    c = width
    for stage in (1, 2, 3):
        stride = 1 if stage == 1 else 2
        x, c = residual_block(g, x, f"s{stage}.b1", c, width * 2 ** (stage - 1), stride, False)
    return _classifier(g, x, c, classes)


EXIT_TAPS = {1: ("exit1", 2), 2: ("exit2", 1)}
"""resnet8_exits: after which stage each early exit reads the backbone, its name and its
stride-2 convolutions (two after stage 1, whose 28 × 28 map sees too little to classify
once pooled)."""


def resnet8_exits(
    seed: int = 0,
    classes: int = 10,
    width: int = 16,
    channels: int = 1,
    size: int = 28,
    weights: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """ResNet-8 with early-exit classifiers after stages 1 and 2 (one output per head)."""
    g = Graph("resnet8_exits", seed, weights)
    x = g.input("input", [1, channels, size, size])
    x = g.conv(x, "stem", channels, width, 3)
    c = width
    for stage in (1, 2, 3):
        stride = 1 if stage == 1 else 2
        x, c = residual_block(g, x, f"s{stage}.b1", c, width * 2 ** (stage - 1), stride, False)
        if stage in EXIT_TAPS:
            head, convs = EXIT_TAPS[stage]
            y, cin = x, c
            for i in range(1, convs + 1):
                y, cin = g.conv(y, f"{head}.conv{i}", cin, 2 * c, 3, stride=2), 2 * c
            y = g.global_pool(y, f"{head}.pool")
            g.output(g.gemm(y, f"{head}.fc", 2 * c, classes))
    return _classifier(g, x, c, classes)


def nonn_student(
    seed: int = 0,
    classes: int = 10,
    width: int = 4,
    features: int = 32,
    channels: int = 1,
    size: int = 28,
    weights: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """A student that learns ``features`` of the teacher's last filters (and its labels)."""
    g = Graph("nonn_student", seed, weights)
    x = g.input("input", [1, channels, size, size])
    c = channels
    for i, (cout, stride) in enumerate(((width, 1), (2 * width, 2), (4 * width, 2)), 1):
        x = g.conv(x, f"conv{i}", c, cout, 3, stride=stride)
        c = cout
    x = g.conv(x, "conv4", c, features, 3)
    x = g.global_pool(x, "pool")
    g.output(x)
    g.gemm(x, "fc", features, classes)
    g.output("fc")
    return g.model()


def nonn_aggregator(
    seed: int = 0,
    classes: int = 10,
    features: int = 64,
    weights: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """The classifier over the students' concatenated features (missing ones zeroed)."""
    g = Graph("nonn_aggregator", seed, weights)
    x = g.input("features", [1, features])
    g.gemm(x, "fc", features, classes)
    g.output("fc")
    return g.model()


def cnn_student(
    seed: int = 0,
    classes: int = 10,
    width: int = 8,
    channels: int = 1,
    size: int = 28,
    weights: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """Plain four-convolution student for small images; width a parameter (default 8)."""
    g = Graph("cnn_student", seed, weights)
    x = g.input("input", [1, channels, size, size])
    c = channels
    for i, stride in enumerate((1, 2, 2, 2), 1):
        x = g.conv(x, f"conv{i}", c, width * 2 ** (i - 1), 3, stride=stride)
        c = width * 2 ** (i - 1)
    return _classifier(g, x, c, classes)


def _classifier(g: Graph, x: str, c: int, classes: int) -> onnx.ModelProto:
    x = g.global_pool(x, "pool")
    g.gemm(x, "fc", c, classes)
    g.output("fc")
    return g.model()
