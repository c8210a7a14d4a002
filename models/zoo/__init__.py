"""The model zoo: standard architectures built as ONNX graphs with seeded random weights.

Nothing is downloaded: ``load(name)`` builds the model on first use and keeps it in a
cache folder (``$EDGESIM_CACHE``, default ``~/.cache/edgesim/models``), named by the
architecture, its parameters and the seed, so a second use reads the file.

| name | input | source of the architecture |
|---|---|---|
| mobilenet_v2 | 1 × 3 × 224 × 224 | Sandler et al. 2018, width 1.0 |
| resnet18, resnet50 | 1 × 3 × 224 × 224 | He et al. 2016, ImageNet variants |
| resnet56 | 1 × 3 × 32 × 32 | He et al. 2016, CIFAR-10 variant (section 4.2) |
| ssd_mobilenet_v2 | 1 × 3 × 300 × 300 | SSDLite heads on MobileNetV2 (Sandler et al. 2018) |
| gpt2 | 1 × seq token ids | Radford et al. 2019, GPT-2 small |
| resnet8 | 1 × 1 × 28 × 28 | ResNet-8 teacher for small images (``models.zoo.small``) |
| cnn_student | 1 × 1 × 28 × 28 | four-convolution student, width a parameter |
| resnet8_exits | 1 × 1 × 28 × 28 | resnet8 with early exits after stages 1 and 2 |
| nonn_student | 1 × 1 × 28 × 28 | a distilled student: ``features`` pooled outputs, width |

Every builder also takes ``weights`` (parameter name → array) to build a trained network
(``models.train``); ``load`` and ``path`` build the seeded one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from models.notice import working
from models.zoo.cnn import mobilenet_v2, resnet18, resnet50, resnet56, ssd_mobilenet_v2
from models.zoo.gpt2 import gpt2
from models.zoo.small import (
    cnn_student,
    nonn_student,
    resnet8,
    resnet8_exits,
)

BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "mobilenet_v2": mobilenet_v2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnet56": resnet56,
    "ssd_mobilenet_v2": ssd_mobilenet_v2,
    "gpt2": gpt2,
    "resnet8": resnet8,
    "cnn_student": cnn_student,
    "resnet8_exits": resnet8_exits,
    "nonn_student": nonn_student,
}


def cache_dir() -> Path:
    return Path(os.environ.get("EDGESIM_CACHE", Path.home() / ".cache" / "edgesim" / "models"))


def path(name: str, **params: Any) -> Path:
    """The cached ONNX file of zoo model ``name``, built if missing."""
    if name not in BUILDERS:
        raise KeyError(f"unknown zoo model {name!r} (known: {', '.join(sorted(BUILDERS))})")
    suffix = "".join(f"-{k}{v}" for k, v in sorted(params.items()))
    target = cache_dir() / f"{name}{suffix}.onnx"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with working(f"building zoo model {target.stem} (first use, then cached)"):
            model = BUILDERS[name](**params)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        onnx.save(model, tmp)
        os.replace(tmp, target)
    return target


def load(name: str, **params: Any) -> onnx.ModelProto:
    """Zoo model ``name`` (built and cached on first use)."""
    return onnx.load(path(name, **params))


def source(name: str, params: dict[str, int]) -> str:
    """How a resolved scenario records a zoo model: ``zoo:NAME`` or ``zoo:NAME?seq=32``."""
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"zoo:{name}" + (f"?{query}" if query else "")


def load_source(text: str) -> onnx.ModelProto:
    """The graph behind a recorded source: ``zoo:NAME[?k=v&…]`` or ``onnx:/absolute/path``."""
    kind, _, rest = text.partition(":")
    if kind == "zoo":
        name, _, query = rest.partition("?")
        params = dict(item.split("=", 1) for item in query.split("&") if item)
        return load(name, **{k: int(v) for k, v in params.items()})
    if kind == "onnx":
        return onnx.load(rest)
    raise ValueError(f"no ONNX graph behind model source {text!r} (an inline layer table)")
