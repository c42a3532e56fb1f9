"""Read a TensorFlow Lite model file into plain numpy constants and an operator list.

Only what the converters of the person models need: the graph's tensors (name, shape), its constant
weights as float32 arrays, and its operators in execution order with their builtin options. Constant
sub-graphs that TFLite keeps only to save space are folded here, so a converter sees dense float32
weights: ``DEQUANTIZE`` of float16 weights and ``DENSIFY`` of sparse ones (the BlazePose detector stores
38 of its kernels in TFLite's sparse format).

Parsing uses the ``tflite`` package (flatbuffer bindings of the schema); no interpreter is involved, so
the converted weights do not depend on a runtime.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmat.errors import VmatError

# TensorType enum values of the schema -> numpy dtypes (only those these models use).
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# The union tags of DimensionMetadata's index vectors.
_INDEX_VECTORS = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}
_FOLDED = ("DEQUANTIZE", "DENSIFY")


@dataclass(frozen=True)
class TFLiteOp:
    """One operator: its kind (``"CONV_2D"``, or a custom op's code), tensor indices and options.

    A custom op's options are its raw bytes under ``"CustomOptions"``.
    """

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    """The first subgraph of a model, with constants folded to dense float32 (int32 stays int32)."""

    names: list[str]
    shapes: list[tuple[int, ...]]
    constants: dict[int, np.ndarray]
    ops: list[TFLiteOp]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def index(self, name: str) -> int:
        """The index of the tensor called ``name``."""
        return self.names.index(name)

    def constant(self, tensor: int) -> np.ndarray:
        """The value of constant tensor ``tensor``; raises ``KeyError`` for a computed one."""
        return self.constants[tensor]


class TFLiteFormatError(VmatError):
    """The file is not a TFLite model this reader understands."""


def read_tflite(path: str | Path | bytes) -> TFLiteGraph:
    """Parse ``path`` (or a model file's bytes) and fold its constant ``DEQUANTIZE``/``DENSIFY`` operators."""
    import tflite

    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        what = "the given bytes are" if isinstance(path, bytes) else f"{str(path)!r} is"
        raise TFLiteFormatError(f"{what} not a TFLite model")
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    option_names = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}

    names, shapes, constants = [], [], {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        names.append(tensor.Name().decode())
        shapes.append(tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ())
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, np.ndarray) and raw.size:
            values = raw.view(_DTYPES[tensor.Type()])
            sparsity = tensor.Sparsity()
            constants[i] = _densify(values, shapes[i], sparsity) if sparsity is not None else values.reshape(shapes[i])

    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        kind = op_names.get(builtin, str(builtin))
        if kind == "CUSTOM":
            kind = code.CustomCode().decode()
        inputs = tuple(int(t) for t in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(t) for t in op.OutputsAsNumpy())
        if kind in _FOLDED and all(t in constants for t in inputs):
            # DENSIFY's constant was densified on reading; both ops then only change the dtype.
            constants[outputs[0]] = constants[inputs[0]].astype(np.float32)
            continue
        options = _options(op, option_names, tflite)
        if op.CustomOptionsLength():
            # A custom op's options are bytes only its kernel knows how to read (often a C struct).
            options["CustomOptions"] = op.CustomOptionsAsNumpy().tobytes()
        ops.append(TFLiteOp(kind, inputs, outputs, options))
    return TFLiteGraph(
        names=names,
        shapes=shapes,
        constants=constants,
        ops=ops,
        inputs=tuple(int(t) for t in graph.InputsAsNumpy()),
        outputs=tuple(int(t) for t in graph.OutputsAsNumpy()),
    )


def _options(op: Any, option_names: dict[int, str], tflite: Any) -> dict[str, Any]:
    """The operator's builtin options as ``{"StrideW": 2, "Padding": 1, ...}`` (empty for none)."""
    name = option_names.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    if not name or name == "NONE" or table is None:
        return {}
    options = getattr(tflite, name)()
    options.Init(table.Bytes, table.Pos)
    values = {}
    for attr, method in inspect.getmembers(options, inspect.ismethod):
        if attr[0].isupper() and not attr.startswith(("Init", "GetRootAs")) and not attr.endswith(
            ("AsNumpy", "Length", "IsNone")
        ):
            if len(inspect.signature(method).parameters) == 0:
                values[attr] = method()
    return values


def _index_vector(kind: int, table: Any) -> np.ndarray:
    import tflite

    vector = getattr(tflite, _INDEX_VECTORS[kind])()
    vector.Init(table.Bytes, table.Pos)
    return np.asarray(vector.ValuesAsNumpy(), dtype=np.int64)


def _densify(values: np.ndarray, shape: tuple[int, ...], sparsity: Any) -> np.ndarray:
    """Expand a tensor stored in TFLite's sparse format to its dense ``shape``.

    The format walks the (possibly block-split) dimensions in ``traversal_order``; each level is either
    dense (every index in ``range(dense_size)``) or CSR (``segments[p]:segments[p+1]`` of ``indices`` for
    parent position ``p``). Walking level by level with whole arrays keeps this vectorised.
    """
    order = sparsity.TraversalOrderAsNumpy().astype(np.int64)
    block_map = sparsity.BlockMapAsNumpy().astype(np.int64) if sparsity.BlockMapLength() else np.zeros(0, np.int64)
    rank = len(shape)
    positions = np.zeros(1, dtype=np.int64)
    coords = np.zeros((1, len(order)), dtype=np.int64)
    for level in range(sparsity.DimMetadataLength()):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == 0:  # DENSE
            size = meta.DenseSize()
            positions = (positions[:, None] * size + np.arange(size)).reshape(-1)
            coords = np.repeat(coords, size, axis=0)
            coords[:, order[level]] = np.tile(np.arange(size), len(coords) // size)
        else:  # SPARSE_CSR
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            counts = segments[positions + 1] - segments[positions]
            starts = np.repeat(segments[positions], counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            positions = starts + offsets
            coords = np.repeat(coords, counts, axis=0)
            coords[:, order[level]] = indices[positions]
    dense_coords = coords[:, :rank].copy()
    for block, dim in enumerate(block_map):
        block_size = sparsity.DimMetadata(int(np.where(order == rank + block)[0][0])).DenseSize()
        dense_coords[:, dim] = dense_coords[:, dim] * block_size + coords[:, rank + block]
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(dense_coords.T)] = values[positions]
    return dense
