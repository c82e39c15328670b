"""A hand-built ONNX decoder for the rotary ``music-transformer`` around onnxruntime's fused
``GroupQueryAttention`` (rotary, cache append and attention in one contrib op per layer).

Why not trace: the traced graph grows its key/value cache with ``Concat`` every step, copying the
whole cache per token; GroupQueryAttention writes the new key/value in place into a preallocated
buffer (``past_*`` and ``present_*`` bound to the same memory), so a decode step reads each weight
and each cached key/value once. The weights are the model's own; the graph is validated against
PyTorch like the traced one (:func:`midiforge.exporters.onnx.validate_onnx`).

Graph::

    input_ids [batch, seq] int64, past_key_<i>/past_value_<i> [batch, heads, capacity, head_dim],
    seqlens_k [batch] int32 (total length - 1), total_sequence_length [] int32
      -> logits [batch, seq, vocab], present_key_<i>/present_value_<i> (same shape as past)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CONTRIB_OPSET = 1


def supports(model: Any) -> bool:
    """Only the rotary music-transformer maps onto GroupQueryAttention (relative attention does not)."""
    cfg = getattr(model, "config", None)
    return type(model).__name__ == "MusicTransformer" and getattr(cfg, "positional", None) == "rope"


def cache_layout(model: Any) -> list[dict]:
    """The cache entries for the metadata: ``capacity`` marks the preallocated (shared) axis."""
    c = model.config
    return [
        {"name": f"{kind}_{i}", "shape": ["batch", c.n_heads, "capacity", c.head_dim], "dtype": "float32"}
        for i in range(c.n_layers)
        for kind in ("key", "value")
    ]


def build_graph(model: Any, opset: int) -> Any:
    """The ONNX ``ModelProto`` of ``model`` (a rotary ``MusicTransformer``), fp32."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from midiforge.generation.onnx_backend import (
        INPUT_IDS,
        LOGITS,
        SEQLENS,
        TOTAL_LEN,
        past_name,
        present_name,
    )

    cfg = model.config
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", n_out: int = 1, **attrs) -> list[str]:
        outs = [out] if n_out == 1 else [f"{out}_{k}" for k in range(n_out)]
        nodes.append(helper.make_node(op, inputs, outs, name=out, domain=domain, **attrs))
        return outs

    def weight(prefix: str) -> str:
        return const(f"{prefix}.weight_t", sd[f"{prefix}.weight"].T)

    def param(name: str) -> str:
        return const(name, sd[name])

    def skip_norm(x: str, residual: str, bias: str, norm: str, out: str) -> tuple[str, str]:
        """``LayerNorm(x + residual + bias)`` and the sum itself (the new residual), one fused op."""
        outs = [f"{out}_norm", "", "", f"{out}_sum"]
        nodes.append(helper.make_node("SkipLayerNormalization", [x, residual, param(f"{norm}.weight"),
                                      param(f"{norm}.bias"), param(bias)], outs, name=out,
                                      domain="com.microsoft", epsilon=1e-5))
        return outs[0], outs[3]

    half = cfg.head_dim // 2
    cos = const("rope_cos", model.rope_cos.float().numpy()[:, :half])
    sin = const("rope_sin", model.rope_sin.float().numpy()[:, :half])
    x = node("Gather", [const("tok_emb", sd["tok_emb.weight"]), INPUT_IDS], "embed")[0]
    h = node("LayerNormalization", [x, param("blocks.0.ln1.weight"), param("blocks.0.ln1.bias")], "ln1_0",
             axis=-1, epsilon=1e-5)[0]
    for i in range(cfg.n_layers):
        p = f"blocks.{i}"
        qkv = node("MatMul", [h, weight(f"{p}.attn.qkv")], f"qkv_mm_{i}")[0]
        qkv = node("Add", [qkv, param(f"{p}.attn.qkv.bias")], f"qkv_{i}")[0]
        attn = f"attn_{i}"
        nodes.append(helper.make_node(
            "GroupQueryAttention",
            [qkv, "", "", past_name(f"key_{i}"), past_name(f"value_{i}"), SEQLENS, TOTAL_LEN, cos, sin],
            [attn, present_name(f"key_{i}"), present_name(f"value_{i}")],
            name=attn, domain="com.microsoft", num_heads=cfg.n_heads, kv_num_heads=cfg.n_heads,
            do_rotary=1, rotary_interleaved=0, scale=1.0 / math.sqrt(cfg.head_dim)))
        proj = node("MatMul", [attn, weight(f"{p}.attn.proj")], f"proj_{i}")[0]
        h, x = skip_norm(proj, x, f"{p}.attn.proj.bias", f"{p}.ln2", f"res1_{i}")
        ff = node("MatMul", [h, weight(f"{p}.mlp.0")], f"ff1_{i}")[0]
        ff = node("BiasGelu", [ff, param(f"{p}.mlp.0.bias")], f"gelu_{i}", domain="com.microsoft")[0]
        ff = node("MatMul", [ff, weight(f"{p}.mlp.2")], f"ff2_{i}")[0]
        norm = f"blocks.{i + 1}.ln1" if i + 1 < cfg.n_layers else "ln_f"
        h, x = skip_norm(ff, x, f"{p}.mlp.2.bias", norm, f"res2_{i}")
    head = sd["tok_emb.weight"].T if model.head is None else sd["head.weight"].T
    nodes.append(helper.make_node("MatMul", [h, const("head_t", head)], [LOGITS], name="head"))

    cache_shape = ["batch", cfg.n_heads, "capacity", cfg.head_dim]
    inputs = [helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", "seq", cfg.vocab_size])]
    for i in range(cfg.n_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(past_name(f"{kind}_{i}"), TensorProto.FLOAT, cache_shape))
            outputs.append(helper.make_tensor_value_info(present_name(f"{kind}_{i}"), TensorProto.FLOAT, cache_shape))
    inputs.append(helper.make_tensor_value_info(SEQLENS, TensorProto.INT32, ["batch"]))
    inputs.append(helper.make_tensor_value_info(TOTAL_LEN, TensorProto.INT32, []))
    graph = helper.make_graph(nodes, "midiforge_gqa_decoder", inputs, outputs, inits)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", CONTRIB_OPSET)],
        producer_name="midiforge", ir_version=min(onnx.IR_VERSION, 10),
    )


def write_graph(model: Any, path: Any, opset: int) -> list[dict]:
    """Build and save the fused graph to ``path``; return its cache layout."""
    import onnx

    onnx.save(build_graph(model, opset), str(path))
    return cache_layout(model)
