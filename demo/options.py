"""`demo`'s options: one field per command-line option, its help the field's docstring."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.locks import LOCK_TIMEOUT


@dataclass
class DemoConfig:
    out: Path = Path("artifacts/demo")
    """Folder for the demo catalog (OUT/catalog) and the model, predictions, audit and plots (OUT/model)."""
    n_train: int = 240
    """Edited (labelled) demo photos."""
    n_val: int = 60
    """Unseen demo photos to predict."""
    size: int = 256
    """Side of the demo renders (pixels)."""
    pretrain_epochs: int = 12
    """SimCLR epochs of stage 1 (12 keeps the demo under a minute on an AVX2-only CPU)."""
    finetune_epochs: int = 40
    """Head epochs of stage 2."""
    ensemble: int = 3
    """Heads averaged in stage 2 (the product default)."""
    image_size: int = 96
    """Side of the encoder's input (pixels)."""
    width: int = 24
    """Encoder width (channels of its first stage)."""
    device: str = "auto"
    """auto | cpu | cuda | mps."""
    seed: int = 0
    """Seed of the demo data and of every stage."""
    lock_timeout: float = LOCK_TIMEOUT
    """Seconds to wait while another run writes the same model folder, then give up."""
    progress: bool = True
    """Show progress bars and tables."""
    lightroom: bool = False
    """Run the Lightroom loop instead: DNG/JPEG folders + .lrcat -> import-lightroom -> pretrain/finetune -> ingest ->
    predict -> apply -> evaluate."""
