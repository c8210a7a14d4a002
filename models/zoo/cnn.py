"""Convolutional networks of the zoo, with the layer shapes of their papers.

MobileNetV2 (224 × 224, width 1.0), ResNet-18 and ResNet-50 (224 × 224, ImageNet),
ResNet-56 (CIFAR, 32 × 32) and an SSDLite-style MobileNetV2 detector (300 × 300).
Residual branches end with a small-gain convolution so that activations stay of order
one through dozens of random blocks.
"""

from __future__ import annotations

import numpy as np
import onnx

from models.zoo.graph import Graph

RESIDUAL_GAIN = 0.1


def mobilenet_v2(seed: int = 0, classes: int = 1000, size: int = 224) -> onnx.ModelProto:
    """MobileNetV2, 224 × 224, width 1.0 (Sandler et al. 2018): 300 M MACs, 3.4 M parameters."""
    g = Graph("mobilenet_v2", seed)
    x = g.input("input", [1, 3, size, size])
    x, c = _mobilenet_features(g, x)
    x = g.conv(x, "head", c, 1280, 1, act="relu6")
    x = g.global_pool(x, "pool")
    g.gemm(x, "fc", 1280, classes)
    g.output("fc")
    return g.model()


MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""(expansion t, channels c, repeats n, first stride s) of MobileNetV2's bottleneck stages."""


def _mobilenet_features(
    g: Graph, x: str, taps: list[tuple[str, int]] | None = None
) -> tuple[str, int]:
    x = g.conv(x, "stem", 3, 32, 3, stride=2, act="relu6")
    c, b = 32, 0
    for t, cout, n, s in MOBILENET_V2:
        for i in range(n):
            b += 1
            stride = s if i == 0 else 1
            hidden = c * t
            y = x if t == 1 else g.conv(x, f"b{b}.expand", c, hidden, 1, act="relu6")
            y = g.conv(y, f"b{b}.dw", hidden, hidden, 3, stride=stride, groups=hidden, act="relu6")
            y = g.conv(
                y,
                f"b{b}.project",
                hidden,
                cout,
                1,
                act=None,
                gain=RESIDUAL_GAIN if stride == 1 and c == cout else 1.0,
            )
            x = g.add(x, y, f"b{b}.add") if stride == 1 and c == cout else y
            if taps is not None and b in (13, 17):
                taps.append((x if b == 17 else f"b{b}.expand.relu6", hidden if b == 13 else cout))
            c = cout
    return x, c


def resnet18(seed: int = 0, classes: int = 1000) -> onnx.ModelProto:
    """ResNet-18, 224 × 224 (He et al. 2016): 1.8 G MACs, 11.7 M parameters."""
    return _resnet_imagenet("resnet18", seed, classes, (2, 2, 2, 2), bottleneck=False)


def resnet50(seed: int = 0, classes: int = 1000) -> onnx.ModelProto:
    """ResNet-50, 224 × 224 (He et al. 2016): 4.1 G MACs (3.8 G multiply-adds in the paper
    counting the classifier apart), 25.6 M parameters."""
    return _resnet_imagenet("resnet50", seed, classes, (3, 4, 6, 3), bottleneck=True)


def _resnet_imagenet(
    name: str, seed: int, classes: int, depths: tuple[int, ...], bottleneck: bool
) -> onnx.ModelProto:
    g = Graph(name, seed)
    x = g.input("input", [1, 3, 224, 224])
    x = g.conv(x, "stem", 3, 64, 7, stride=2)
    x = g.max_pool(x, "stem.pool")
    c = 64
    for stage, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512), strict=True), 1):
        for i in range(depth):
            stride = 2 if i == 0 and stage > 1 else 1
            x, c = residual_block(g, x, f"s{stage}.b{i + 1}", c, width, stride, bottleneck)
    x = g.global_pool(x, "pool")
    g.gemm(x, "fc", c, classes)
    g.output("fc")
    return g.model()


def residual_block(
    g: Graph, x: str, name: str, cin: int, width: int, stride: int, bottleneck: bool
) -> tuple[str, int]:
    """A ResNet block (basic, or bottleneck with 4 × expansion) and its shortcut: the
    output tensor and its channels."""
    cout = width * 4 if bottleneck else width
    if bottleneck:
        y = g.conv(x, f"{name}.conv1", cin, width, 1)
        y = g.conv(y, f"{name}.conv2", width, width, 3, stride=stride)
        y = g.conv(y, f"{name}.conv3", width, cout, 1, act=None, gain=RESIDUAL_GAIN)
    else:
        y = g.conv(x, f"{name}.conv1", cin, width, 3, stride=stride)
        y = g.conv(y, f"{name}.conv2", width, cout, 3, act=None, gain=RESIDUAL_GAIN)
    shortcut = x
    if stride != 1 or cin != cout:
        shortcut = g.conv(x, f"{name}.down", cin, cout, 1, stride=stride, act=None)
    return g.add(shortcut, y, f"{name}.add", act="relu"), cout


def resnet56(seed: int = 0, classes: int = 10) -> onnx.ModelProto:
    """ResNet-56 for CIFAR-10, 32 × 32 (He et al. 2016, section 4.2): 125 M MACs, 0.85 M
    parameters."""
    g = Graph("resnet56", seed)
    x = g.input("input", [1, 3, 32, 32])
    x = g.conv(x, "stem", 3, 16, 3)
    c = 16
    for stage, width in enumerate((16, 32, 64), 1):
        for i in range(9):
            stride = 2 if i == 0 and stage > 1 else 1
            x, c = residual_block(g, x, f"s{stage}.b{i + 1}", c, width, stride, bottleneck=False)
    x = g.global_pool(x, "pool")
    g.gemm(x, "fc", c, classes)
    g.output("fc")
    return g.model()


def ssd_mobilenet_v2(seed: int = 0, classes: int = 91, size: int = 300) -> onnx.ModelProto:
    """SSDLite on MobileNetV2, 300 × 300 (Sandler et al. 2018): six feature maps with
    depthwise-separable box and class heads, four extra downsampling layers."""
    g = Graph("ssd_mobilenet_v2", seed)
    x = g.input("input", [1, 3, size, size])
    taps: list[tuple[str, int]] = []
    x, c = _mobilenet_features(g, x, taps)
    x = g.conv(x, "head", c, 1280, 1, act="relu6")
    taps[-1] = (x, 1280)
    c = 1280
    for i, (mid, cout) in enumerate(((256, 512), (128, 256), (128, 256), (64, 128)), 1):
        y = g.conv(x, f"extra{i}.reduce", c, mid, 1, act="relu6")
        y = g.conv(y, f"extra{i}.dw", mid, mid, 3, stride=2, groups=mid, act="relu6")
        x = g.conv(y, f"extra{i}.expand", mid, cout, 1, act="relu6")
        c = cout
        taps.append((x, cout))
    anchors = 6
    outputs: dict[str, list[str]] = {"box": [], "cls": []}
    for i, (tap, ch) in enumerate(taps):
        for kind, per in (("box", 4), ("cls", classes)):
            y = g.conv(tap, f"head{i}.{kind}.dw", ch, ch, 3, groups=ch, act="relu6")
            y = g.conv(y, f"head{i}.{kind}", ch, per * anchors, 1, act=None, gain=1.0)
            y = g.node("Transpose", [y], f"head{i}.{kind}.nhwc", perm=[0, 2, 3, 1])
            shape = g.const(f"head{i}.{kind}.shape", np.array([1, -1, per], np.int64))
            outputs[kind].append(g.node("Reshape", [y, shape], f"head{i}.{kind}.flat"))
    g.node("Concat", outputs["box"], "boxes", axis=1)
    g.node("Concat", outputs["cls"], "scores", axis=1)
    g.output("boxes")
    g.output("scores")
    return g.model()
