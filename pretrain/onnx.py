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


def export_onnx(encoder: Any, path: str | Path, half_storage: bool = False) -> Path:
    """Write `encoder` (pretrain.encoder.Encoder, float32) as ONNX to `path`: uint8 (B, S, S, 3) ->
    float32 (B, dim), batch size free. Uses torch's TorchScript exporter (no onnxscript needed).

    half_storage: store the weights as float16, each cast back to float32 inside the graph (computed
    once, when onnxruntime loads it). Exact for an encoder whose weights are already float16 values
    (finetune rounds them: pretrain.encoder.round_to_half) and half the file size."""
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
        _store_weights_as_float16(path)
    return path


def _store_weights_as_float16(path: Path) -> None:
    """Rewrite the graph with float16 initialisers + a Cast node to float32 for each (see export_onnx)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

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
    onnx.save(model, str(path))


def providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers for a --device value: 'cuda' (or 'auto' where onnxruntime has
    its CUDA provider, the onnxruntime-gpu package) runs the encoder on the GPU, anything else on the
    CPU. Asking for 'cuda' where it is absent is an error, not a silent CPU run."""
    import onnxruntime as ort

    from catalog.errors import CatalogError

    have_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not have_cuda:
        raise CatalogError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu), "
                           "or use --device cpu")
    if device in ("cuda", "auto") and have_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxEncoder:
    """An exported encoder, run by onnxruntime: `embed(uint8 NHWC images) -> float32 (N, dim)`.

    threads: intra-op threads (predict gives the encoder every core but the one that decodes)."""

    def __init__(self, path: str | Path, threads: int = 1, providers: list[str] | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        # no busy-waiting between batches: the other core decodes the next chunk meanwhile
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # warnings about unused initialisers are noise for a user
        self.path = Path(path)
        try:  # onnxruntime parses a protobuf: data, never code; a foreign file is an error naming it
            self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, ...)
            from catalog.errors import CatalogError

            raise CatalogError(f"{path}: not a wbstyle ONNX encoder ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200]}); re-run finetune") from e
        shape = self.session.get_inputs()[0].shape          # ['batch', S, S, 3]
        self.image_size = int(shape[1])
        self.dim = int(self.session.get_outputs()[0].shape[1])

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
