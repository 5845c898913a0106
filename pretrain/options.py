"""`pretrain`'s options (stage 1): one field per command-line option, its help the field's docstring."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.locks import LOCK_TIMEOUT
from core.options import DEFAULT_MODEL, THREADS


@dataclass
class PretrainConfig:
    data: Path
    """Catalog root (ROOT/Train[+Validation]) or a single catalog folder."""
    out: Path = DEFAULT_MODEL
    """Model folder: encoder.safetensors + encoder.json, pretrain_state.pt (for --resume), pretrain_report.json,
    pretrain_curve.png."""
    epochs: int = 12
    """Passes over the photos not held out (12 x 2.7k photos at 96 px: about 2 min on 2 CPU cores with bf16)."""
    batch_size: int = 128
    """Photos per step (2 views each); NT-Xent treats the other 2*batch-2 views as negatives."""
    image_size: int = 96
    """Side of the views the encoder sees (pixels)."""
    load_size: int = 128
    """Photos are decoded once at this square size; views are cropped from it."""
    width: int = 24
    """Encoder width (channels of the first stage)."""
    proj_dim: int = 64
    """Output size of the SimCLR projection head."""
    lr: float = 2e-3
    """Peak AdamW learning rate (linear warm-up, then cosine decay)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_epochs: float = 1.0
    """Epochs of linear warm-up before the cosine decay."""
    temperature: float = 0.2
    """NT-Xent temperature."""
    crop_min: float = 0.25
    """Smallest area fraction of a random resized crop (zoom in)."""
    zoom_out_min: float = 0.7
    """Smallest scale of the frame when zooming out (border filled by reflection)."""
    p_zoom_out: float = 0.2
    """Probability that a view zooms out."""
    p_paste: float = 0.5
    """Probability that a view gets a pasted patch (5-20 percent of its area) of another photo."""
    holdout_fraction: float = 0.1
    """Fraction of photos (whole shoots when capture dates exist) kept out of training to measure view retrieval."""
    eval_every: int = 5
    """Measure embedding quality every N epochs (0: end only)."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1 | mps."""
    precision: str = "auto"
    """auto | bf16 | fp32. auto: bfloat16 autocast where the hardware runs it natively (CUDA, CPUs with
    AVX512-BF16/AMX: about 2x faster), else float32."""
    seed: int = 0
    """Seed for initialisation, batches and views."""
    threads: int = THREADS
    """CPU threads for torch."""
    workers: int = 2
    """Threads decoding images."""
    resume: bool = False
    """Continue from OUT/pretrain_state.pt (weights, optimizer, schedule, epoch) up to --epochs."""
    lock_timeout: float = LOCK_TIMEOUT
    """Seconds to wait while another run writes the same model folder, then give up."""
    progress: bool = True
    """Show progress bars and the final table."""
