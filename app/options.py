"""The options of the commands in app/ (predict, add-edits, evaluate, audit): one dataclass per command,
one field per command-line option, its help the field's docstring."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.locks import LOCK_TIMEOUT
from core.options import DEFAULT_MODEL, THREADS


@dataclass
class PredictConfig:
    data: Path = Path("")
    """Catalog root (ROOT/Validation, ROOT/Train) or a folder with images/ and one CSV."""
    model: Path = DEFAULT_MODEL
    """Model folder written by `finetune` (encoder, head, neighbour index)."""
    out: Path = Path("predictions.csv")
    """Output CSV: id_global,Temperature,Tint, one row per input row, input order."""
    split: str = "auto"
    """'auto' (Validation if ROOT/Validation exists, else the single folder), 'Train', 'Validation' or 'folder'."""
    blend_neighbors: bool = True
    """Pull predictions towards the edits of similar photos: training photos and those added with add-edits
    (--no-blend-neighbors: neither)."""
    blend_strength: str = "auto"
    """Strength of the pull towards similar training photos: 'auto' (the model's, chosen by cross-fitting) or a number
    0..1."""
    edit_strength: str = "auto"
    """Strength of the pull towards photos added with add-edits: 'auto' (the model's, chosen by cross-fitting) or a
    number 0..1."""
    k: int = 0
    """Neighbours consulted when blending; 0 = the model's setting."""
    smooth: bool = True
    """Make near-duplicate photos of this batch agree (strength chosen on validation)."""
    consistency: str = "scene"
    """'scene': pull each photo towards its scene's median (scenes by camera, capture-time gaps and look; strength
    chosen on validation) and write the scenes to OUT.scenes.csv; 'off': no pull."""
    on_error: str = "raise"
    """Unreadable image: 'raise' (stop with the file name) or 'metadata-only' (predict from metadata, warn)."""
    batch_size: int = 128
    """Images embedded per batch."""
    device: str = "auto"
    """Where the encoder runs: 'auto' (onnxruntime's CUDA provider when installed, else the CPU), 'cpu' or 'cuda'."""
    workers: int = 1
    """Image decoding threads inside each of the --threads workers (1: each worker decodes its own chunks; more only
    contends unless cores are spare)."""
    threads: int = THREADS
    """Cores to use: one worker each, running chunks of photos whole (decode, statistics, encoder, heads); forked
    processes on Linux, threads elsewhere."""
    parallel: str = "auto"
    """What the --threads workers are: 'auto' or 'processes' (forked processes on Linux with the encoder on the
    CPU, else threads), or 'threads'."""
    progress: bool = True
    """Show progress bars."""


@dataclass
class AddEditsConfig:
    model: Path = DEFAULT_MODEL
    """Model folder written by `finetune`; its neighbour index (neighbors.*) is extended in place."""
    data: Path | None = field(default=None, metadata={'required': True})
    """Catalog of newly edited photos (ROOT/Train/images + sliders.csv with Temperature/Tint)."""
    split: str = "Train"
    """Split of --data holding the edited photos."""
    skip_bad: bool = False
    """Skip and count photos with a missing label, an unreadable image or an id already in the index, instead of
    stopping at them."""
    device: str = "auto"
    """Where the encoder runs: 'auto' (onnxruntime's CUDA provider when installed, else the CPU), 'cpu' or 'cuda'."""
    threads: int = THREADS
    """Cores to use: one worker each, running chunks of photos whole (decode, statistics, encoder)."""
    workers: int = 1
    """Image decoding threads inside each worker."""
    lock_timeout: float = LOCK_TIMEOUT
    """Seconds to wait while another run writes the same model folder, then give up."""
    progress: bool = True
    """Show progress and the summary."""


@dataclass
class EvaluateConfig:
    data: Path | None = None
    """Catalog root (ROOT/Train[+Validation]) or folder whose photos are evaluated; its labels are the truth unless
    --answers is given."""
    model: Path | None = None
    """Model folder written by `finetune` to predict with; needs --data."""
    pred: Path | None = None
    """Predictions CSV (id_global,Temperature,Tint) to score instead of running a model."""
    answers: Path | None = None
    """Answers CSV (id_global,Temperature,Tint[,...]) holding the labels, e.g. the synthetic benchmark's answers.csv;
    pairs with the Validation split."""
    split: str = "auto"
    """Split to evaluate: auto (Validation with --answers or when it has labels, else Train), Train, Validation or
    folder. Train is optimistic if the model was trained on it."""
    out: Path | None = None
    """Output folder for evaluation.json and plots (default MODEL/eval, else ./eval)."""
    blend: bool = True
    """Also evaluate neighbour blending (when the model has a neighbour index)."""
    consistency: bool = True
    """Measure variant and as-shot bracket spread (needs --model)."""
    n_variants: int = 5
    """WB-preserving variants per photo (crop/zoom/flip/paste) for the variant spread."""
    n_brackets: int = 6
    """As-shot temperatures, 2500-12000 K evenly in mired, for the bracket spread."""
    max_photos: int = 200
    """Photos (seeded subsample) used for the consistency probes."""
    device: str = "auto"
    """auto | cpu | cuda | mps."""
    seed: int = 0
    """Seed for the subsample and the variants."""
    progress: bool = True
    """Show progress bars and the result tables."""


@dataclass
class AuditConfig:
    data: Path
    """Catalog root (ROOT/Train[+Validation]) or a single catalog folder; its Train split supplies the neighbour
    photos."""
    model: Path = DEFAULT_MODEL
    """Model folder written by `finetune`."""
    out: Path | None = None
    """Output folder (default: MODEL/audit)."""
    ids: str | None = None
    """Comma-separated id_global values to audit (overrides --worst)."""
    worst: int = 20
    """Audit the N photos whose render at the prediction looks furthest from the edit (ΔE00) when labelled, else the N
    whose prediction disagrees most with their neighbours' edits."""
    answers: Path | None = None
    """CSV id_global,Temperature,Tint with the audited photos' true edits when their split has none (default:
    DATA/answers.csv when present, as the demo catalog writes)."""
    k: int = 8
    """Neighbours shown per photo (predictions use the model's own blending settings)."""
    split: str = "auto"
    """Split to audit: auto (Validation if present, else Train, else the single folder) | Train | Validation | folder."""
    anomalies: bool = True
    """Also list training edits that disagree with their near-duplicates' (anomalies.csv + grids)."""
    anomaly_grids: int = 12
    """Grids drawn for the top N anomalies."""
    anomaly_min_sim: float = 0.85
    """Cosine similarity from which a training photo counts as a near-duplicate for anomalies."""
    anomaly_z: float = 3.0
    """Robust z (vs. the near-duplicates' median edit and spread) from which an edit is flagged."""
    tile: int = 256
    """Tile size of the grids (pixels)."""
    device: str = "auto"
    """auto | cpu | cuda | mps (for embedding the photos)."""
    seed: int = 0
    """Seed (the audit is deterministic; kept for provenance)."""
    workers: int = 2
    """Threads decoding images."""
    progress: bool = True
    """Show progress bars."""
