"""`finetune`'s options (stage 2): one field per command-line option, its help the field's docstring."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.locks import LOCK_TIMEOUT
from core.options import DEFAULT_MODEL, THREADS


@dataclass
class FinetuneConfig:
    data: Path = Path("")
    """Catalog root (ROOT/Train/images + sliders.csv) or a folder with images/ and one CSV."""
    encoder: Path | None = None
    """Folder with encoder.safetensors from `pretrain`; none = no pretraining (randomly initialised encoder; combine
    with --train-encoder all to learn it here)."""
    out: Path = DEFAULT_MODEL
    """Model folder to write (encoder.*, head.*, forest.npz, neighbors.*, manifest.json, finetune_report.json)."""
    targets: str = "Temperature,Tint"
    """Comma-separated CSV columns to learn: Temperature (in mired) and Tint absolute, never as a shift from the
    as-shot; another column X as a shift from currX when present."""
    image_size: int = 96
    """Image side (px) for a randomly initialised encoder; a pretrained encoder brings its own."""
    epochs: int = 40
    """Training epochs of each head; an epoch is one pass over the training photos, each in one random version
    (original or a re-rendered copy)."""
    batch_size: int = 256
    """Minibatch size for the heads."""
    lr: float = 2e-3
    """Peak AdamW learning rate of the heads (linear warm-up over the first 10 % of steps, then cosine decay)."""
    weight_decay: float = 1e-2
    """AdamW weight decay of the heads."""
    huber_delta: float = 1.0
    """Huber loss threshold in units of each target's training spread (small = closer to MAE, i.e. the median)."""
    hidden: int = 192
    """Hidden width of the head MLP."""
    dropout: float = 0.2
    """Dropout after each hidden layer of the head MLP."""
    emb_dropout: float = 0.2
    """Dropout on the (wide) image embedding input of the head."""
    gbm_weight: float = 0.5
    """Weight of the gradient-boosting member (metadata + image statistics) beside the MLP heads; 0 = heads only. With
    --tune-gbm-weight: the default to beat."""
    tune_gbm_weight: bool = True
    """Choose the gradient-boosting member's weight per target (0, 0.1, ..., 1) on the out-of-fold predictions, by the
    same rule as every other knob."""
    asshot_trust_gain: float = 0.10
    """Use the as-shot-aware member (gradient boosting that also reads the camera's as-shot) only if cross-fitting
    shows it at least this share more accurate in all folds but one; 1 = never, 0 = whenever it helps."""
    ensemble: int = 3
    """Number of heads trained with different seeds and averaged."""
    rerender_aug: int = 4
    """As-shot re-rendered copies per training photo (0 = off)."""
    rerender_mired: float = 300.0
    """Max |shift| of the simulated as-shot temperature, in mired (real cameras' guesses span 2,600-48,000 K within one
    short shoot)."""
    rerender_tint: float = 45.0
    """Max |shift| of the simulated as-shot tint (±45: the real release's as-shot tints span -26..+57)."""
    recency_half_life: float = 0.0
    """Weight each training photo by 0.5 ** (days before the newest shoot / this) so newer shoots count more; 0 = equal
    weights."""
    val_fraction: float = 0.2
    """Share of photos (whole shoots) held out when the catalog has too few shoots for --folds."""
    folds: int = 5
    """Grouped folds (whole shoots held out) of the cross-fitting on which every knob is chosen; < 2, or under 3 shoots
    per fold: one grouped holdout."""
    refit: bool = True
    """After validation, retrain on every labelled photo for the saved model."""
    train_encoder: str = "none"
    """'none' (frozen encoder, cached features: fast), 'last' (fine-tune the last stage) or 'all'."""
    encoder_epochs: int = 0
    """Epochs of encoder fine-tuning when --train-encoder is not 'none' (0 = --epochs)."""
    encoder_lr: float = 3e-4
    """Learning rate of the encoder when --train-encoder is not 'none'."""
    baselines: bool = False
    """Also cross-validate the gradient-boosting baselines (metadata; + colour) on the same folds, for the validation
    table (about a third more time)."""
    blend_k: int = 8
    """Neighbours consulted when blending with similar training photos."""
    int8: bool = True
    """Store the encoder as an int8 ONNX graph (calibrated on the training photos; the heads learn from its
    embeddings): predict runs about 2x faster. --no-int8: float32."""
    device: str = "auto"
    """'auto', 'cpu', 'cuda', 'mps'."""
    seed: int = 0
    """Seed for splits, augmentation, initialisation and batch order."""
    threads: int = THREADS
    """Torch intra-op threads."""
    workers: int = 2
    """Image decoding threads."""
    lock_timeout: float = LOCK_TIMEOUT
    """Seconds to wait while another run writes the same model folder, then give up."""
    progress: bool = True
    """Show progress bars."""
