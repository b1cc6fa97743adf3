"""What one face costs a network: multiply-adds counted from its exported ONNX graph (the
file that serves, not the Keras description of it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def multiply_adds(onnx_path: str | Path) -> int:
    """Multiply-adds of one forward pass of one face: every Conv (grouped and depthwise
    included), Gemm and MatMul of the graph, with shapes from ONNX shape inference at
    batch 1. Element-wise layers (batch norm, ReLU, pooling, softmax) are not counted,
    as in the literature's figures."""
    import onnx

    model = onnx.load(str(onnx_path))
    graph = model.graph
    for tensor in graph.input:  # a dynamic batch is fixed to 1 before inference
        dims = tensor.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    graph = onnx.shape_inference.infer_shapes(model).graph
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    for node in graph.node:  # QDQ graphs: a dequantised weight has its constant's shape
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes.setdefault(node.output[0], shapes[node.input[0]])
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            out, weight = shapes.get(node.output[0]), shapes.get(node.input[1])
            _require(node, out, weight)
            # weight: (C_out, C_in / group, kh, kw); every output element costs C_in/group*kh*kw
            total += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            # a dense layer: its constant weight (K, N) times the rows of one face, which
            # are known from the output shape, or one row where a flatten's reshape is
            # computed at run time (Keras' Flatten exports as Shape -> Reshape)
            weight, out = shapes.get(node.input[1]), shapes.get(node.output[0])
            _require(node, weight)
            rows = int(np.prod(out[:-1])) if out and None not in out else 1
            total += rows * int(np.prod(weight))
    return total


def _require(node, *shapes) -> None:
    if any(s is None or None in s or not s for s in shapes):
        raise ValueError(f"cannot count the multiply-adds of {node.op_type} {node.name!r}: "
                         "its shapes are not known after shape inference")
