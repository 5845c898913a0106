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

INPUT, OUTPUT = "images", "embedding"
OPSET = 17


def export_onnx(encoder: Any, path: str | Path) -> Path:
    """Write `encoder` (pretrain.encoder.Encoder, float32) as ONNX to `path`: uint8 (B, S, S, 3) ->
    float32 (B, dim), batch size free. Uses torch's TorchScript exporter (no onnxscript needed)."""
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
                          dynamo=False)
    return path


class OnnxEncoder:
    """An exported encoder, run by onnxruntime: `embed(uint8 NHWC images) -> float32 (N, dim)`.

    threads: intra-op threads (predict gives the encoder every core but the one that decodes)."""

    def __init__(self, path: str | Path, threads: int = 1, providers: list[str] | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings about unused initialisers are noise for a user
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
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
