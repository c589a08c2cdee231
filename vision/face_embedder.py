"""dlib's face-recognition ResNet run by onnxruntime: the same weights, ~5x faster.

The pip wheel of dlib (dlib-bin) is built without BLAS, so its convolutions take ~60-75 ms per
face on this CPU, most of a gate's per-face budget. The network itself is small (~0.5 GFLOP).
This module reads the weights from the model file that ``face_recognition_models`` ships
(nothing is downloaded), rebuilds the network described in dlib's
``dnn_face_recognition_ex.cpp`` as an ONNX graph in memory and runs it with onnxruntime,
which the plate reader already depends on. Embeddings equal dlib's to ~1e-5 (tested), so
templates enrolled with either engine stay valid.

File format (dlib's ``serialize``): integers are one header byte (byte count, 0x80 for
negative) followed by little-endian bytes; strings are an integer length and the bytes;
floats are an integer mantissa and exponent; tensors are a version, four dimensions and raw
little-endian float32. Layers are written input first, each starting with its name
(``con_4``, ``affine_``, ...). Tag and skip layers carry no name; the residual wiring is
the known architecture, and the parse checks that every named layer is where it expects.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from errors import RecognitionError

logger = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Residual stages, input side first: (filters, blocks, first block downsamples).
_STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))
_NAME = re.compile(rb"\x01([\x04-\x16])(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")


class _Reader:
    """Sequential reader of dlib's serialisation format."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def integer(self) -> int:
        if self.pos >= len(self.data):
            raise RecognitionError("unexpected network layout: the file is truncated")
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def string(self) -> str:
        size = self.integer()
        try:
            text = self.data[self.pos : self.pos + size].decode("ascii")
        except UnicodeDecodeError as err:
            raise RecognitionError("unexpected network layout: a name is not text") from err
        self.pos += size
        return text

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa * 2.0 ** self.integer())

    def tensor(self) -> np.ndarray:
        self.integer()  # tensor format version
        dims = [self.integer() for _ in range(4)]
        count = int(np.prod(dims))
        if count < 0 or self.pos + 4 * count > len(self.data):
            raise RecognitionError("unexpected network layout: the file is truncated")
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(dims)


@dataclass(frozen=True)
class _Layer:
    kind: str
    params: np.ndarray | None = None
    shape: tuple[int, ...] = ()  # con: filters, rows, cols, stride y, stride x, pad y, pad x


def _parse_layers(data: bytes) -> tuple[tuple[float, float, float], list[_Layer]]:
    start = data.find(b"input_rgb_image_sized")
    if start < 0:
        raise RecognitionError("not a dlib face-recognition network file (no input layer)")
    reader = _Reader(data, start - 2)
    reader.string()
    means = (reader.real(), reader.real(), reader.real())
    layers: list[_Layer] = []
    for match in _NAME.finditer(data, reader.pos):
        # The name is a serialised string: its length byte must equal the name's length.
        if match.group(1)[0] != len(match.group(2)):
            continue
        kind = match.group(2).decode()
        reader.pos = match.end()
        if kind == "con_4":
            params = reader.tensor().ravel()
            layers.append(_Layer("con", params, tuple(reader.integer() for _ in range(7))))
        elif kind == "affine_":
            layers.append(_Layer("affine", reader.tensor().ravel()))
        elif kind == "fc_2":
            outputs, inputs = reader.integer(), reader.integer()
            layers.append(_Layer("fc", reader.tensor().reshape(inputs, outputs)))
        elif kind in ("max_pool_2", "avg_pool_2"):
            shape = tuple(reader.integer() for _ in range(6))
            layers.append(_Layer(kind.removesuffix("_2"), None, shape))
        else:
            layers.append(_Layer(kind.rstrip("_")))
    return means, layers


class _GraphBuilder:
    """Builds the ONNX graph while consuming the parsed layers in forward order."""

    def __init__(self, layers: list[_Layer]) -> None:
        import onnx.helper as oh
        import onnx.numpy_helper as onh

        self._oh, self._onh = oh, onh
        self.layers = list(layers)
        self.nodes: list[object] = []
        self.weights: list[object] = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def _take(self, kind: str) -> _Layer:
        if not self.layers or self.layers[0].kind != kind:
            found = self.layers[0].kind if self.layers else "the end"
            raise RecognitionError(f"unexpected network layout: wanted {kind}, found {found}")
        return self.layers.pop(0)

    def _const(self, array: np.ndarray) -> str:
        """An initializer; float weights are float32 and pad widths int64, as ONNX wants."""
        name = self._name("w")
        self.weights.append(self._onh.from_array(np.ascontiguousarray(array), name))
        return name

    def _node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        """One node; ``attrs`` are its ONNX attributes (kernel_shape=[…], strides=[…] …)."""
        out = self._name(op.lower())
        self.nodes.append(self._oh.make_node(op, inputs, [out], **attrs))
        return out

    def conv_affine(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        """con_ followed by affine_, folded into one Conv (gamma scales the filters)."""
        con = self._take("con")
        assert con.params is not None
        filters, rows, cols, stride_y, stride_x, pad_y, pad_x = con.shape
        channels, height, width = shape
        n_weights = filters * channels * rows * cols
        if con.params.size != n_weights + filters:
            raise RecognitionError("unexpected network layout: convolution size mismatch")
        weight = con.params[:n_weights].reshape(filters, channels, rows, cols)
        bias = con.params[n_weights:]
        affine = self._take("affine")
        assert affine.params is not None
        gamma, beta = affine.params[:filters], affine.params[filters:]
        out = self._node(
            "Conv",
            [x, self._const(weight * gamma[:, None, None, None]), self._const(bias * gamma + beta)],
            kernel_shape=[rows, cols], strides=[stride_y, stride_x],
            pads=[pad_y, pad_x, pad_y, pad_x],
        )
        height = 1 + (height + 2 * pad_y - rows) // stride_y
        width = 1 + (width + 2 * pad_x - cols) // stride_x
        return out, (filters, height, width)

    def pool(
        self, kind: str, op: str, x: str, shape: tuple[int, int, int]
    ) -> tuple[str, tuple[int, int, int]]:
        """A windowed pooling layer (dlib pads none when the stride is not 1)."""
        rows, cols, stride_y, stride_x = self._take(kind).shape[:4]
        out = self._node(op, [x], kernel_shape=[rows, cols], strides=[stride_y, stride_x])
        return out, (shape[0], 1 + (shape[1] - rows) // stride_y, 1 + (shape[2] - cols) // stride_x)

    def relu(self, x: str) -> str:
        self._take("relu")
        return self._node("Relu", [x])

    def pad_to(self, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
        """dlib's add_prev adds tensors of different sizes by zero-padding the smaller one
        at the end of each dimension."""
        if shape == target:
            return x
        # ONNX Pad: all begins (N, C, H, W) then all ends.
        ends = [t - s for s, t in zip(shape, target, strict=True)]
        return self._node("Pad", [x, self._const(np.array([0, 0, 0, 0, 0, *ends], np.int64))])

    def residual(
        self, x: str, shape: tuple[int, int, int], down: bool
    ) -> tuple[str, tuple[int, int, int]]:
        y, y_shape = self.conv_affine(x, shape)
        y = self.relu(y)
        y, y_shape = self.conv_affine(y, y_shape)
        skip, skip_shape = x, shape
        if down:
            skip, skip_shape = self.pool("avg_pool", "AveragePool", x, shape)
        self._take("add_prev")
        target = tuple(max(a, b) for a, b in zip(y_shape, skip_shape, strict=True))
        assert len(target) == 3
        total = self._node("Add", [self.pad_to(y, y_shape, target),
                                   self.pad_to(skip, skip_shape, target)])
        return self.relu(total), target

    def build(self) -> bytes:
        oh = self._oh
        x, shape = self.conv_affine("chip", (3, CHIP_SIZE, CHIP_SIZE))
        x = self.relu(x)
        x, shape = self.pool("max_pool", "MaxPool", x, shape)
        for filters, blocks, downsample in _STAGES:
            for block in range(blocks):
                x, shape = self.residual(x, shape, down=downsample and block == 0)
            if shape[0] != filters:
                raise RecognitionError("unexpected network layout: stage width mismatch")
        self._take("avg_pool")
        x = self._node("Flatten", [self._node("GlobalAveragePool", [x])])
        fc = self._take("fc")
        assert fc.params is not None
        out = self._node("MatMul", [x, self._const(fc.params)])
        if self.layers:
            raise RecognitionError(f"unexpected network layout: {len(self.layers)} layers left")
        graph = oh.make_graph(
            self.nodes,
            "dlib_face_resnet",
            [oh.make_tensor_value_info("chip", 1, ["n", 3, CHIP_SIZE, CHIP_SIZE])],
            [oh.make_tensor_value_info(out, 1, ["n", 128])],
            initializer=self.weights,
        )
        model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)])
        model.ir_version = 8  # readable by every onnxruntime the plate reader accepts
        return bytes(model.SerializeToString())


def dlib_model_path() -> Path:
    try:
        import face_recognition_models
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RecognitionError("face_recognition_models is not installed") from err
    return Path(face_recognition_models.face_recognition_model_location())


class OnnxFaceEmbedder:
    """128-d embeddings of aligned 150x150 RGB face chips (as ``dlib.get_face_chip`` gives).

    Building takes ~0.2 s (parse 22 MB, build the graph, let onnxruntime optimise it). One
    thread per run: a gate box has two cores and several camera workers. Measured here: 3.4 ms
    per chip against 74 ms for dlib-bin's ``compute_face_descriptor``, max difference 2e-7.
    """

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        path = model_path or dlib_model_path()
        try:
            data = path.read_bytes()
        except OSError as err:
            raise RecognitionError(f"cannot read the face model {path}: {err}") from err
        try:
            self.means, layers = _parse_layers(data)
            model = _GraphBuilder(layers).build()
        except (ValueError, IndexError) as err:  # a tensor whose size does not fit its layer
            raise RecognitionError(f"unexpected network layout in {path}: {err}") from err
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self._means = np.array(self.means, np.float32).reshape(1, 3, 1, 1)
        logger.info("face embedder: dlib ResNet weights from %s on onnxruntime", path.name)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """``chips``: (n, 150, 150, 3) or (150, 150, 3) uint8 RGB → (n, 128) float32."""
        batch = chips[None] if chips.ndim == 3 else chips
        if batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise RecognitionError(f"face chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB")
        # dlib's input layer: subtract the channel means, divide by 256.
        tensor = (batch.astype(np.float32).transpose(0, 3, 1, 2) - self._means) / 256.0
        # InferenceSession.run is safe to call from several threads at once.
        (out,) = self._session.run(None, {"chip": tensor})
        return np.asarray(out, np.float32)


@cache
def shared_embedder() -> OnnxFaceEmbedder:
    """One embedder per process: every FaceEngine (gate, enrolment, liveness) shares it."""
    return OnnxFaceEmbedder()
