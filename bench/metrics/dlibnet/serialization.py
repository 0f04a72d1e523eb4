"""A reader of dlib's ``dnn`` network files (``serialize(net)``), written from the format, not from dlib's code.

The format, as dlib 19.x/20.x writes it (dlib/serialize.h, dlib/dnn/core.h, dlib/dnn/layers.h):

* an integer is a control byte (bit 7: negative; bits 0-3: the number of bytes that follow) and then its absolute
  value in that many little-endian bytes; a bool is the ASCII byte ``'1'`` or ``'0'``; a string is its length (an
  integer) and its bytes; a float is two integers, a mantissa and an exponent (``mantissa * 2**exponent``; the
  exponents 32000, 32001 and 32002 mean +inf, -inf and NaN);
* a tensor is a version (2), four integer dimensions (samples, k, rows, columns) and its values as raw
  little-endian float32; an alias tensor (a view into a layer's parameter tensor) is a version (1) and four
  dimensions, no values;
* a network is nested: the loss layer writes its version and its details and then the network under it; each
  wrapper (``add_layer``, ``add_tag_layer``, ``add_skip_layer``) writes its version and then the network under
  it, so the file opens with one version per wrapper, outermost first, then the input layer's details; each
  ``add_layer`` then writes its layer's details and its state (three bools and the cached tensors), innermost
  first. Tags and skips write nothing else, so which wrapper is a tag, a skip or a layer, and the tag numbers,
  are not in the file: the reader is given the network's topology, and checks it against the versions and the
  layer names it finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bench.errors import WeightsError

__all__ = [
    "AddPrev",
    "Affine",
    "Conv",
    "FullyConnected",
    "InputRGB",
    "Layer",
    "MetricLoss",
    "Pool",
    "ReLU",
    "read_network",
]

_INF, _NINF, _NAN = 32000, 32001, 32002


@dataclass(frozen=True)
class InputRGB:
    """``input_rgb_image_sized``: a pixel enters as ``(value - mean[channel]) / 256``, planes R, G, B."""

    mean: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True)
class Conv:
    """``con_``: cross-correlation, weights (out, in, kh, kw) as in torch, zero padding."""

    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """``affine_`` in convolution mode: ``gamma[k] * x + beta[k]`` per channel (dlib's batch norm at test time)."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class Pool:
    """``max_pool_`` / ``avg_pool_``; a window of 0 rows and columns is the whole input (``*_pool_everything``)."""

    kind: Literal["max", "avg"]
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """``add_prev_``: the sum of the layer below and a tagged layer, the smaller zero-padded at the end of each
    dimension to the larger's size (the tag is a fact of the topology, not of the file)."""


@dataclass(frozen=True)
class FullyConnected:
    """``fc_``: ``output = input @ weight (+ bias)``, weight of shape (inputs, outputs)."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class MetricLoss:
    """``loss_metric_``: the output is the embedding itself (no normalisation); margin and threshold of training."""

    margin: float
    distance_threshold: float


Layer = Conv | Affine | ReLU | Pool | AddPrev | FullyConnected
_KIND = {Conv: "con", Affine: "affine", ReLU: "relu", AddPrev: "add_prev", FullyConnected: "fc"}


class _Stream:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = memoryview(data), path, 0

    def fail(self, problem: str) -> WeightsError:
        return WeightsError(f"{self.path}: not a dlib network file of the expected kind: {problem} (byte {self.pos})")

    def take(self, count: int) -> memoryview:
        if self.pos + count > len(self.data):
            raise self.fail(f"truncated: {count} more bytes wanted, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        if control & 0x70:
            raise self.fail(f"expected an integer, found control byte 0x{control:02x}")
        value = int.from_bytes(self.take(control & 0x0F), "little")
        return -value if control & 0x80 else value

    def floating(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= _INF:
            return {_INF: float("inf"), _NINF: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(np.float64(mantissa), exponent))

    def boolean(self) -> bool:
        byte = self.take(1)[0]
        if byte not in b"01":
            raise self.fail(f"expected a bool ('0' or '1'), found byte 0x{byte:02x}")
        return byte == ord("1")

    def string(self) -> str:
        return bytes(self.take(self.integer())).decode("latin-1")

    def dims(self, version: int) -> tuple[int, int, int, int]:
        if (found := self.integer()) != version:
            raise self.fail(f"tensor version {found}, expected {version}")
        return self.integer(), self.integer(), self.integer(), self.integer()

    def tensor(self) -> np.ndarray:
        shape = self.dims(2)
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        return self.dims(1)


def _conv(s: _Stream, name: str) -> Conv:
    params = s.tensor().reshape(-1)
    filters, rows, cols = s.integer(), s.integer(), s.integer()
    stride, padding = (s.integer(), s.integer()), (s.integer(), s.integer())
    shape, _bias_shape = s.alias(), s.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.floating()
    use_bias = s.boolean() if name in ("con_5", "con_6") else True
    if name == "con_6" and s.boolean():
        raise s.fail("con_ with a fused relu is not supported")
    if shape[0] != filters or shape[2:] != (rows, cols):
        raise s.fail(f"con_ filters of shape {shape} for {filters} filters of {rows}x{cols}")
    size = int(np.prod(shape))
    use_bias = use_bias and params.size == size + filters
    if params.size != size + (filters if use_bias else 0):
        raise s.fail(f"con_ parameters of {params.size} values for filters of shape {shape}")
    bias = params[size:].copy() if use_bias else None
    return Conv(params[:size].reshape(shape).copy(), bias, stride, padding)


def _affine(s: _Stream, name: str) -> Affine | None:
    params = s.tensor().reshape(-1)
    gamma, beta = s.alias(), s.alias()
    mode = s.integer()
    disabled = s.boolean() if name == "affine_2" else False
    if mode != 0 or gamma[2:] != (1, 1):
        raise s.fail(f"affine_ in mode {mode} with gamma of shape {gamma}: only convolution mode (0) is supported")
    if disabled:
        return None
    k = gamma[1]
    if beta != gamma or params.size != 2 * k:
        raise s.fail(f"affine_ parameters of {params.size} values for gamma and beta of shape {gamma}")
    return Affine(params[:k].copy(), params[k:].copy())


def _pool(s: _Stream, name: str) -> Pool:
    window, stride, padding = (s.integer(), s.integer()), (s.integer(), s.integer()), (s.integer(), s.integer())
    return Pool("max" if name.startswith("max") else "avg", window, stride, padding)


def _fc(s: _Stream, name: str) -> FullyConnected:
    outputs, inputs = s.integer(), s.integer()
    params = s.tensor().reshape(-1)
    weights, _biases = s.alias(), s.alias()
    has_bias = s.integer() == 0  # fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
    for _ in range(4):
        s.floating()
    if name == "fc_3":
        has_bias = s.boolean() and has_bias
    if weights[:2] != (inputs, outputs) or params.size != (inputs + has_bias) * outputs:
        raise s.fail(f"fc_ parameters of {params.size} values for {inputs} inputs and {outputs} outputs")
    size = inputs * outputs
    bias = params[size:].copy() if has_bias else None
    return FullyConnected(params[:size].reshape(inputs, outputs).copy(), bias)


def _layer(s: _Stream) -> Layer | None:
    """One layer's details; None for a layer that is disabled (an identity)."""
    name = s.string()
    if name in ("con_4", "con_5", "con_6"):
        return _conv(s, name)
    if name in ("affine_", "affine_2"):
        return _affine(s, name)
    if name in ("relu_", "relu_2"):
        return None if name == "relu_2" and s.boolean() else ReLU()
    if name in ("max_pool_2", "avg_pool_2"):
        return _pool(s, name)
    if name == "add_prev_":
        return AddPrev()
    if name in ("fc_2", "fc_3"):
        return _fc(s, name)
    raise s.fail(f"layer {name!r} is not supported")


def _input(s: _Stream) -> InputRGB:
    name = s.string()
    if name != "input_rgb_image_sized":
        raise s.fail(f"input layer {name!r}, expected 'input_rgb_image_sized'")
    mean = (s.floating(), s.floating(), s.floating())
    return InputRGB(mean, s.integer(), s.integer())


def _loss(s: _Stream) -> MetricLoss:
    if (version := s.integer()) != 1:
        raise s.fail(f"loss layer version {version}, expected 1")
    name = s.string()
    if name == "loss_metric_":  # before the margin and threshold were stored, they were these
        return MetricLoss(0.1, 0.75)
    if name != "loss_metric_2":
        raise s.fail(f"loss layer {name!r}, expected 'loss_metric_2'")
    return MetricLoss(s.floating(), s.floating())


def _layer_state(s: _Stream, version: int, on_input: bool) -> None:
    """What ``add_layer`` writes after its layer's details: three bools and tensors the reader does not need."""
    for _ in range(3):
        s.boolean()
    for _ in range(3 if on_input or version == 2 else 2):  # x_grad, cached output, params_grad / grad_final
        s.tensor()
    if on_input and version == 3:
        s.integer()  # sample expansion factor


def read_network(
    path: Path | str, topology: Sequence[str]
) -> tuple[InputRGB, list[tuple[str, Layer | None]], MetricLoss]:
    """The input layer, ``(token, layer)`` in forward order, and the loss of a network with a metric loss.

    ``topology`` lists the wrappers from the layer over the input to the layer under the loss: a layer's kind
    (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev1``, ``fc``...), or ``tagN`` / ``skipN``.
    Tags and skips come back with ``None``, and so do disabled layers.
    """
    path = Path(path)
    if not topology or topology[0].startswith(("tag", "skip")):
        raise ValueError(f"the topology must start with the layer over the input, got {list(topology[:1])}")
    try:
        s = _Stream(path.read_bytes(), path)
    except OSError as error:
        raise WeightsError(f"cannot read {path}: {error}") from error
    loss = _loss(s)
    versions = [s.integer() for _ in topology][::-1]  # written outermost first
    for index, (token, version) in enumerate(zip(topology, versions, strict=True)):
        wrapper = token.startswith(("tag", "skip"))
        allowed = (1,) if wrapper else (2, 3) if index == 0 else (1, 2)
        if version not in allowed:
            raise s.fail(f"wrapper {index} ({token}) has version {version}, expected one of {allowed}")
    source = _input(s)
    layers: list[tuple[str, Layer | None]] = []
    for index, (token, version) in enumerate(zip(topology, versions, strict=True)):
        if token.startswith(("tag", "skip")):
            layers.append((token, None))
            continue
        layer = _layer(s)
        expected = token.rstrip("0123456789")
        found = _KIND.get(type(layer)) if not isinstance(layer, Pool) else f"{layer.kind}_pool"
        if layer is not None and found != expected:
            raise s.fail(f"layer {index} is {found}, the topology has {token}")
        _layer_state(s, version, on_input=index == 0)
        layers.append((token, layer))
    if s.pos != len(s.data):
        raise s.fail(f"{len(s.data) - s.pos} bytes left after the network")
    return source, layers, loss
