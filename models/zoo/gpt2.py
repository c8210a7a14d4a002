"""GPT-2 small as an ONNX graph: 12 decoder blocks, 768 wide, 12 heads, 50,257 tokens.

The input is a sequence of ``seq`` token ids (a parameter), the output the logits of
every position. Attention is causal (a constant mask added before the softmax); the
language-model head reuses the token embedding (tied weights), so the parameter
count is GPT-2 small's 124 M.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from models.zoo.graph import Graph

VOCAB, CONTEXT = 50257, 1024


def gpt2(
    seed: int = 0, seq: int = 16, layers: int = 12, width: int = 768, heads: int = 12
) -> onnx.ModelProto:
    """GPT-2 small (Radford et al. 2019): 12 layers, 768 wide, 124 M parameters."""
    g = Graph("gpt2", seed)
    ids = g.input("input_ids", [1, seq], TensorProto.INT64)
    wte = g.const("wte", (g.rng.standard_normal((VOCAB, width)) * 0.02).astype(np.float32))
    wpe = g.const("wpe", (g.rng.standard_normal((CONTEXT, width)) * 0.01).astype(np.float32))
    tok = g.node("Gather", [wte, ids], "embed.tokens")
    positions = g.const("embed.positions", np.arange(seq, dtype=np.int64)[None, :])
    pos = g.node("Gather", [wpe, positions], "embed.positions.gather")
    x = g.node("Add", [tok, pos], "embed")
    mask = np.triu(np.full((seq, seq), -1e4, np.float32), k=1)[None, None]
    g.const("attn.mask", mask)
    for i in range(layers):
        x = _block(g, x, f"h{i}", seq, width, heads)
    x = _layer_norm(g, x, "ln_f", width)
    flat = g.node(
        "Reshape", [x, g.const("ln_f.to2d", np.array([seq, width], np.int64))], "ln_f.flat"
    )
    g.node("Gemm", [flat, wte], "lm_head", transB=1)
    g.output("lm_head")
    return g.model()


def _layer_norm(g: Graph, x: str, name: str, width: int) -> str:
    scale = g.const(f"{name}.weight", np.ones(width, np.float32))
    bias = g.const(f"{name}.bias", np.zeros(width, np.float32))
    return g.node("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-5)


def _linear(g: Graph, x: str, name: str, cin: int, cout: int, gain: float = 1.0) -> str:
    w = g.weight(f"{name}.weight", (cin, cout), cin, gain)
    b = g.const(f"{name}.bias", np.zeros(cout, np.float32))
    return g.node("Add", [g.node("MatMul", [x, w], f"{name}.matmul"), b], name)


def _block(g: Graph, x: str, name: str, seq: int, width: int, heads: int) -> str:
    d = width // heads
    h = _layer_norm(g, x, f"{name}.ln_1", width)
    qkv = _linear(g, h, f"{name}.attn.qkv", width, 3 * width)
    split = g.const(f"{name}.attn.split", np.array([width] * 3, np.int64))
    g.nodes.append(
        onnx.helper.make_node(
            "Split",
            [qkv, split],
            [f"{name}.q", f"{name}.k", f"{name}.v"],
            name=f"{name}.attn.split",
            axis=-1,
        )
    )
    shape = g.const(f"{name}.attn.heads", np.array([1, seq, heads, d], np.int64))
    q, k, v = (
        g.node(
            "Transpose",
            [g.node("Reshape", [f"{name}.{t}", shape], f"{name}.{t}.split_heads")],
            f"{name}.{t}.bhsd",
            perm=[0, 2, 1, 3],
        )
        for t in "qkv"
    )
    kt = g.node("Transpose", [k], f"{name}.k.t", perm=[0, 1, 3, 2])
    scores = g.node("MatMul", [q, kt], f"{name}.attn.scores")
    scaled = g.node(
        "Mul",
        [scores, g.const(f"{name}.attn.scale", np.array(d**-0.5, np.float32))],
        f"{name}.attn.scaled",
    )
    masked = g.node("Add", [scaled, "attn.mask"], f"{name}.attn.masked")
    probs = g.node("Softmax", [masked], f"{name}.attn.softmax", axis=-1)
    ctx = g.node("MatMul", [probs, v], f"{name}.attn.context")
    ctx = g.node("Transpose", [ctx], f"{name}.attn.merge", perm=[0, 2, 1, 3])
    ctx = g.node(
        "Reshape",
        [ctx, g.const(f"{name}.attn.flat", np.array([1, seq, width], np.int64))],
        f"{name}.attn.merged",
    )
    x = g.node(
        "Add", [x, _linear(g, ctx, f"{name}.attn.proj", width, width, gain=0.1)], f"{name}.attn.add"
    )
    h = _layer_norm(g, x, f"{name}.ln_2", width)
    h = _linear(g, h, f"{name}.mlp.fc", width, 4 * width)
    h = _gelu(g, h, f"{name}.mlp.gelu")
    h = _linear(g, h, f"{name}.mlp.proj", 4 * width, width, gain=0.1)
    return g.node("Add", [x, h], f"{name}.mlp.add")


def _gelu(g: Graph, x: str, name: str) -> str:
    """GELU(x) = x (1 + erf(x / √2)) / 2."""
    scaled = g.node(
        "Mul", [x, g.const(f"{name}.isqrt2", np.array(2**-0.5, np.float32))], f"{name}.scale"
    )
    erf = g.node("Erf", [scaled], f"{name}.erf")
    one = g.node(
        "Add", [erf, g.const(f"{name}.one", np.array(1.0, np.float32))], f"{name}.one_plus"
    )
    half = g.node("Mul", [x, g.const(f"{name}.half", np.array(0.5, np.float32))], f"{name}.half_x")
    return g.node("Mul", [half, one], name)
