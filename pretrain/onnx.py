"""The encoder as an ONNX graph: exported once at finetune (torch + the `onnx` package), run at
predict time by onnxruntime alone, so a photographer who only predicts needs no torch (a ~6 GB
install) — see README "Predict-only install".

The graph takes what the image loader produces, uint8 NHWC renders at the encoder's input size, and
does the conversion itself (float, /255, NCHW): the caller hands it decoded pixels and nothing else.
onnxruntime folds each BatchNorm into its convolution when it loads the graph (the same fusion
finetune.predict used to do by hand), and its CPU kernels take AVX-512 or AVX2 as the machine has.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "encoder.onnx"
INPUT, OUTPUT = "images", "embedding"
OPSET = 17


def export_onnx(encoder: Any, path: str | Path, half_storage: bool = False,
                weights_from: str | Path | None = None) -> Path:
    """Write `encoder` (pretrain.encoder.Encoder, float32) as ONNX to `path`: uint8 (B, S, S, 3) ->
    float32 (B, dim), batch size free. Uses torch's TorchScript exporter (no onnxscript needed).

    half_storage: store the weights as float16, each cast back to float32 inside the graph (computed
    once, when onnxruntime loads it). Exact for an encoder whose weights are already float16 values
    (finetune rounds them: pretrain.encoder.round_to_half) and half the file size.

    weights_from: the float16 safetensors file of the same encoder, in the same folder (the model
    folder's encoder.safetensors). Every weight whose bytes are identical there is not stored again:
    the graph points at it (ONNX external data: file, offset, length), so the model folder holds the
    encoder's weights once, not twice (1.4 MB of a 4 MB budget). A weight that differs in any byte
    stays in the graph."""
    import torch

    class _Graph(torch.nn.Module):
        def __init__(self, enc: torch.nn.Module):
            super().__init__()
            self.enc = enc

        def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, S, S, 3) uint8
            x = images.permute(0, 3, 1, 2).float() / 255.0     # (B, 3, S, S) in [0, 1], as to_tensor
            return self.enc(x)                                  # (B, dim)

    size = int(encoder.image_size)
    graph = _Graph(encoder.float().eval().to(memory_format=torch.contiguous_format)).eval()
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(graph, (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                          # BatchNorm stays a node: its float16 statistics are then stored exactly, and
                          # onnxruntime folds it into the convolution in float32 when it loads the graph
                          do_constant_folding=False, dynamo=False)
    if half_storage:
        _store_weights_as_float16(path, Path(weights_from) if weights_from is not None else None)
    return path


def _safetensors_spans(path: Path) -> dict[str, tuple[str, list[int], int, int]]:
    """name -> (dtype, shape, absolute byte offset, length) of every tensor in a safetensors file
    (its layout: 8-byte little-endian header size, a JSON header, then the raw little-endian data)."""
    import json
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return {k: (v["dtype"], list(v["shape"]), 8 + n + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
            for k, v in header.items() if k != "__metadata__"}


def _store_weights_as_float16(path: Path, weights_from: Path | None = None) -> None:
    """Rewrite the graph with float16 initialisers + a Cast node to float32 for each, those found
    byte for byte in `weights_from` as external data pointing into it (see export_onnx)."""
    import onnx
    from onnx import TensorProto, external_data_helper, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts, halves = [], []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
        halves.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        graph.initializer.remove(init)
    graph.initializer.extend(halves)
    nodes = casts + list(graph.node)  # the casts first: every consumer comes after its input
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    if weights_from is not None:
        if weights_from.parent.resolve() != path.parent.resolve():
            raise ValueError(f"{weights_from}: shared weights must sit in the graph's own folder ({path.parent})")
        spans, data = _safetensors_spans(weights_from), weights_from.read_bytes()
        for half in graph.initializer:  # the graph's own copies (extend() copied `halves`)
            if not half.name.endswith("__fp16"):
                continue
            # the exporter names a parameter after the wrapper's attribute: 'enc.' + the state-dict key
            key = half.name[:-len("__fp16")].removeprefix("enc.")
            span = spans.get(key)
            if span is None or span[0] != "F16" or span[1] != list(half.dims):
                continue
            dtype, shape, offset, length = span
            if data[offset:offset + length] != half.raw_data:  # shared only when byte-identical
                continue
            external_data_helper.set_external_data(half, location=weights_from.name, offset=offset, length=length)
            half.ClearField("raw_data")
            half.data_location = TensorProto.EXTERNAL
    onnx.save(model, str(path))


def int8_graph(encoder: Any, calibration: np.ndarray, batch_size: int = 32) -> bytes:
    """The encoder as an int8 ONNX graph (bytes), what predict runs by default: export_onnx in float32,
    onnxruntime's basic graph optimisations (each BatchNorm folded into its convolution, so the
    weights quantised are the ones that run), then onnxruntime.quantization's static quantisation:
    QDQ format, weights int8 per output channel, activations uint8 with ranges measured (min/max) on
    `calibration`, uint8 (N, S, S, 3) images such as the training photos' canonical renders.

    Why: the encoder is most of predict's arithmetic, and int8 convolutions run about 2.4x faster
    than float32 here (0.40 against 0.94 ms a photo on one core, BENCHMARKS.md §4), at about 2 % of
    the embedding's size in error on real photos. reduce_range (7-bit weights): CPUs without VNNI (most AVX2 laptops) multiply
    uint8 x int8 pairs into saturating 16-bit sums; 7 bits cannot saturate, so every CPU computes
    the same integers and the same embedding. Deterministic: the same encoder and images give the
    same bytes. The caller (finetune) trains the head on this graph's embeddings, so the int8 error
    is part of what the head learns, not a mismatch at predict time."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = np.ascontiguousarray(calibration, dtype=np.uint8)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"int8_graph: calibration must be uint8 images (N, S, S, 3), got {calibration.shape}")

    class _Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{INPUT: calibration[i:i + batch_size]} for i in range(0, len(calibration), batch_size)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="wbstyle_int8_") as tmp:
        tmp = Path(tmp)
        export_onnx(encoder, tmp / "float32.onnx")
        # onnxruntime's own preparation: shape inference and its basic (hardware-independent) graph
        # optimisations, which fold each BatchNorm into its convolution
        quant_pre_process(str(tmp / "float32.onnx"), str(tmp / "folded.onnx"))
        quantize_static(str(tmp / "folded.onnx"), str(tmp / "int8.onnx"), _Batches(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        return (tmp / "int8.onnx").read_bytes()


def providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers for a --device value: 'cuda' (or 'auto' where onnxruntime has
    its CUDA provider, the onnxruntime-gpu package) runs the encoder on the GPU, anything else on the
    CPU. Asking for 'cuda' where it is absent is an error, not a silent CPU run."""
    import onnxruntime as ort

    from core.errors import CatalogError

    have_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not have_cuda:
        raise CatalogError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu), "
                           "or use --device cpu")
    if device in ("cuda", "auto") and have_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxEncoder:
    """An exported encoder, run by onnxruntime: `embed(uint8 NHWC images) -> float32 (N, dim)`.

    threads: intra-op threads (predict runs one per worker, a worker per core: core.parallel)."""

    def __init__(self, path: str | Path | bytes, threads: int = 1, providers: list[str] | None = None):
        """path: the graph file, or the graph itself (bytes, as int8_graph returns it)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        # no busy-waiting between batches: the other cores run other workers' chunks meanwhile
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # warnings about unused initialisers are noise for a user
        self.path = Path("<in memory>") if isinstance(path, bytes) else Path(path)
        try:  # onnxruntime parses a protobuf: data, never code; a foreign file is an error naming it
            self.session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), opts,
                                                providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, ...)
            from core.errors import CatalogError

            raise CatalogError(f"{path}: not a wbstyle ONNX encoder ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200]}); re-run finetune") from e
        shape = self.session.get_inputs()[0].shape          # ['batch', S, S, 3]
        self.image_size = int(shape[1])
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"

    def embed(self, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """uint8 (N, S, S, 3) at the encoder's input size -> float32 (N, dim)."""
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"{self.path}: expected uint8 images of shape (N, {self.image_size}, "
                             f"{self.image_size}, 3), got {images.shape}")
        out = np.zeros((len(images), self.dim), np.float32)
        for i in range(0, len(images), batch_size):
            batch = np.ascontiguousarray(images[i:i + batch_size], dtype=np.uint8)
            out[i:i + len(batch)] = self.session.run([OUTPUT], {INPUT: batch})[0]
        return out
