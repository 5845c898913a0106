"""Every command's options, one dataclass each, field by field with its help text (CleanRL's `Args`).

cli.py turns each field into a click option (cli.options_from) and the benchmarks build command
lines from the same fields (cli.argv_for), so a command, its code and its benchmark never disagree.
They live in the core so that any layer may construct them, and so that `cli.py --help` and the
lean (torch-free) commands import no stage to list their options.

Shared defaults (one of each for every command): DEFAULT_MODEL, the model folder every command
writes or reads; THREADS, the cores a command uses (a 2-core laptop: more only adds contention).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.locks import LOCK_TIMEOUT

DEFAULT_MODEL = Path("artifacts/model")
THREADS = 2


# ------------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------------
@dataclass
class ValidateConfig:
    data: Path = field(metadata={"help": "catalog root: ROOT with Train/ and/or Validation/, or a single "
                                         "folder with images/ and one CSV"})
    split: str = field(default="all", metadata={"help": "Train, Validation, folder, or all (every split found)"})
    image_check: bool = field(default=True, metadata={"help": "decode every image to find unreadable or corrupt "
                                                               "files (slower; off = only check that files exist)"})
    workers: int = field(default=2, metadata={"help": "threads decoding images"})


# ------------------------------------------------------------------------------------------------
# pretrain (stage 1)
# ------------------------------------------------------------------------------------------------
@dataclass
class PretrainConfig:
    data: Path = field(metadata={"help": "Catalog root (ROOT/Train[+Validation]) or a single catalog folder.",
                                 "required": True})
    out: Path = field(default=DEFAULT_MODEL,
                      metadata={"help": "Model folder: encoder.safetensors + encoder.json, pretrain_state.pt (for --resume), pretrain_report.json, pretrain_curve.png."})
    epochs: int = field(default=12, metadata={
        "help": "Passes over the (non-held-out) photos; 12 x 2.7k photos at 96 px: about 2 min on 2 idle "
                "CPU cores with bf16, about twice that in fp32. On the synthetic benchmark's 25-epoch run the "
                "held-out view top-1 was 0.84 at epoch 10 and 0.87 at 25, and the nearest neighbour's edit "
                "no closer after epoch 15 (BENCHMARKS.md, section 4)."})
    batch_size: int = field(default=128, metadata={
        "help": "Photos per step (2 views each); NT-Xent uses the other 2*batch-2 views as negatives. 128 beat "
                "256 on the real release (held-out view top-1 0.86 vs 0.79, head MAE 305.9 vs 308.3 K) at 2/3 "
                "of the time per epoch and 80 % of the memory."})
    image_size: int = field(default=96, metadata={"help": "Side of the views the encoder sees (pixels)."})
    load_size: int = field(default=128, metadata={
        "help": "Photos are decoded once at this square size; views are cropped from it."})
    width: int = field(default=24, metadata={"help": "Encoder width (channels of the first stage)."})
    proj_dim: int = field(default=64, metadata={"help": "Output size of the SimCLR projection head."})
    lr: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate of the heads (linear warm-up, then cosine decay)."})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay."})
    warmup_epochs: float = field(default=1.0, metadata={"help": "Linear warmup length before the cosine decay."})
    temperature: float = field(default=0.2, metadata={"help": "NT-Xent temperature."})
    crop_min: float = field(default=0.25, metadata={
        "help": "Smallest area fraction of a random resized crop (zoom in)."})
    zoom_out_min: float = field(default=0.7, metadata={
        "help": "Smallest scale of the frame when zooming out (border filled by reflection)."})
    p_zoom_out: float = field(default=0.2, metadata={"help": "Probability that a view zooms out."})
    p_paste: float = field(default=0.5, metadata={
        "help": "Probability that a view gets a pasted patch (5-20 percent of its area) of another photo."})
    holdout_fraction: float = field(default=0.1, metadata={
        "help": "Fraction of photos (whole shoots when capture dates exist) kept out of training to "
                "measure view retrieval."})
    eval_every: int = field(default=5, metadata={"help": "Measure embedding quality every N epochs (0: end only)."})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:1 | mps."})
    precision: str = field(default="auto", metadata={
        "help": "auto | bf16 | fp32. auto: bfloat16 autocast where the hardware runs it natively (CUDA, "
                "CPUs with AVX512-BF16/AMX: about 2x faster), else float32."})
    seed: int = field(default=0, metadata={"help": "Seed for initialisation, batches and views."})
    threads: int = field(default=THREADS, metadata={"help": "CPU threads for torch."})
    workers: int = field(default=2, metadata={"help": "Threads decoding images."})
    resume: bool = field(default=False, metadata={
        "help": "Continue from OUT/pretrain_state.pt (weights, optimizer, schedule, epoch) up to --epochs."})
    lock_timeout: float = field(default=LOCK_TIMEOUT, metadata={"help": "Seconds to wait while another run writes the same model folder, then give up."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars and the final table."})


# ------------------------------------------------------------------------------------------------
# finetune (stage 2)
# ------------------------------------------------------------------------------------------------
@dataclass
class FinetuneConfig:
    data: Path = field(default=Path(""), metadata={"help": "Catalog root (ROOT/Train/images + sliders.csv) or a folder with images/ and one CSV."})
    encoder: Path | None = field(default=None, metadata={"help": "Folder with encoder.safetensors from `pretrain`; none = no pretraining (randomly initialised encoder; combine with --train-encoder all to learn it here)."})
    out: Path = field(default=DEFAULT_MODEL, metadata={"help": "Model folder to write (encoder.*, head.*, forest.npz, neighbors.*, manifest.json, finetune_report.json)."})
    targets: str = field(default="Temperature,Tint", metadata={"help": "Comma-separated CSV columns to learn. Temperature is learned in mired and Tint as is, both absolute (never as a shift from the camera's as-shot); another column X as a shift from currX when present, else directly."})
    image_size: int = field(default=96, metadata={"help": "Image side (px) for a randomly initialised encoder; a pretrained encoder brings its own."})
    epochs: int = field(default=40, metadata={"help": "Training epochs of each head; an epoch is one pass over the training photos, each in one random version (original or a re-rendered copy)."})
    batch_size: int = field(default=256, metadata={"help": "Minibatch size for the heads."})
    lr: float = field(default=2e-3, metadata={"help": "Peak AdamW learning rate of the heads (one-cycle schedule)."})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay of the heads."})
    huber_delta: float = field(default=1.0, metadata={"help": "Huber loss threshold in units of each target's training spread (small = closer to MAE, i.e. the median)."})
    hidden: int = field(default=192, metadata={"help": "Hidden width of the head MLP (192 scored within 0.5 % of 256 on the real release and keeps the model under 4 MB)."})
    dropout: float = field(default=0.2, metadata={"help": "Dropout after each hidden layer of the head MLP."})
    emb_dropout: float = field(default=0.2, metadata={"help": "Dropout on the (wide) image embedding input of the head."})
    gbm_weight: float = field(default=0.5, metadata={"help": "Weight of the gradient-boosting member (metadata + image statistics) averaged with the MLP heads; 0 = MLP heads only. With --tune-gbm-weight, the default that cross-fitting must beat."})
    tune_gbm_weight: bool = field(default=True, metadata={"help": "Choose the gradient-boosting member's weight per target (0, 0.1, ..., 1) on the out-of-fold predictions, by the same rule as every other knob."})
    asshot_trust_gain: float = field(default=0.10, metadata={"help": "Let the as-shot-aware member (gradient boosting that also reads the camera's as-shot) pull the prediction only if cross-fitting shows it at least this share more accurate, in every fold but one; else the model stays as-shot-invariant. 1 = never; 0 = whenever it lowers the error at all (accuracy over consistency across the camera's guesses)."})
    ensemble: int = field(default=3, metadata={"help": "Number of heads trained with different seeds and averaged."})
    rerender_aug: int = field(default=4, metadata={"help": "As-shot re-rendered copies per training photo (0 = off)."})
    rerender_mired: float = field(default=300.0, metadata={"help": "Max |shift| of the simulated as-shot temperature, in mired (real cameras' guesses span 2,600-48,000 K within one short shoot)."})
    rerender_tint: float = field(default=45.0, metadata={"help": "Max |shift| of the simulated as-shot tint (±45: the real release's as-shot tints span -26..+57)."})
    recency_half_life: float = field(default=0.0, metadata={"help": "Weight each training photo by 0.5 ** (days before the newest shoot / this), so newer shoots count more in the heads and the gradient-boosting member (undated photos: the mean weight); 0 = every photo counts the same."})
    val_fraction: float = field(default=0.2, metadata={"help": "Share of photos (whole shoots) held out when the catalog has too few shoots for --folds."})
    folds: int = field(default=5, metadata={"help": "Grouped folds (whole shoots held out) of the cross-fitting that gives every photo an out-of-fold prediction, on which every knob is chosen; < 2, or fewer than 3 shoots per fold, = one grouped holdout."})
    refit: bool = field(default=True, metadata={"help": "After validation, retrain on every labelled photo for the saved model."})
    train_encoder: str = field(default="none", metadata={"help": "'none' (frozen encoder, cached features: fast), 'last' (fine-tune the last stage) or 'all'."})
    encoder_epochs: int = field(default=0, metadata={"help": "Epochs of encoder fine-tuning when --train-encoder is not 'none' (0 = --epochs)."})
    encoder_lr: float = field(default=3e-4, metadata={"help": "Learning rate of the encoder when --train-encoder is not 'none'."})
    baselines: bool = field(default=False, metadata={"help": "Also cross-validate the gradient-boosting baselines (metadata; + colour) on the same folds, for the validation table (about a third more time)."})
    blend_k: int = field(default=8, metadata={"help": "Neighbours consulted when blending with similar training photos."})
    int8: bool = field(default=True, metadata={"help": "Store the encoder as an int8 ONNX graph (static quantisation calibrated on the training photos; the heads are trained on that graph's embeddings, so predict reproduces them): predict's encoder runs about 2x faster. --no-int8: the float32 graph."})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', 'mps'."})
    seed: int = field(default=0, metadata={"help": "Seed for splits, augmentation, initialisation and batch order."})
    threads: int = field(default=THREADS, metadata={"help": "Torch intra-op threads."})
    workers: int = field(default=2, metadata={"help": "Image decoding threads."})
    lock_timeout: float = field(default=LOCK_TIMEOUT, metadata={"help": "Seconds to wait while another run writes the same model folder, then give up."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


# ------------------------------------------------------------------------------------------------
# predict
# ------------------------------------------------------------------------------------------------
@dataclass
class PredictConfig:
    data: Path = field(default=Path(""), metadata={"help": "Catalog root (ROOT/Validation, ROOT/Train) or a folder with images/ and one CSV."})
    model: Path = field(default=DEFAULT_MODEL, metadata={"help": "Model folder written by `finetune` (encoder, head, neighbour index)."})
    out: Path = field(default=Path("predictions.csv"), metadata={"help": "Output CSV: id_global,Temperature,Tint, one row per input row, input order."})
    split: str = field(default="auto", metadata={"help": "'auto' (Validation if ROOT/Validation exists, else the single folder), 'Train', 'Validation' or 'folder'."})
    blend_neighbors: bool = field(default=True, metadata={"help": "Pull predictions towards the edits of similar photos: training photos and those added with add-edits (--no-blend-neighbors: neither)."})
    blend_strength: str = field(default="auto", metadata={"help": "Strength of the pull towards similar training photos: 'auto' (the model's, chosen by cross-fitting) or a number 0..1."})
    edit_strength: str = field(default="auto", metadata={"help": "Strength of the pull towards photos added with add-edits: 'auto' (the model's, chosen by cross-fitting) or a number 0..1."})
    k: int = field(default=0, metadata={"help": "Neighbours consulted when blending; 0 = the model's setting."})
    smooth: bool = field(default=True, metadata={"help": "Make near-duplicate photos of this batch agree (strength chosen on validation; 0 = off)."})
    consistency: str = field(default="scene", metadata={"help": "'scene': group the photos into scenes (camera, capture-time gaps, look) and pull each towards its scene's median, with the strength chosen on validation (0, said in finetune's report, when it does not help); the scene of each photo goes to OUT's side file OUT.scenes.csv. 'off': neither."})
    on_error: str = field(default="raise", metadata={"help": "Unreadable image: 'raise' (stop with the file name) or 'metadata-only' (predict from metadata, warn)."})
    batch_size: int = field(default=128, metadata={"help": "Images embedded per batch."})
    device: str = field(default="auto", metadata={"help": "Where the encoder runs: 'auto' (onnxruntime's CUDA provider when installed, else the CPU), 'cpu' or 'cuda'."})
    workers: int = field(default=1, metadata={"help": "Image decoding threads inside each of the --threads workers (1: each worker decodes its own chunks; more only contends unless cores are spare)."})
    threads: int = field(default=THREADS, metadata={"help": "Cores to use: one worker each, running chunks of photos whole (decode, statistics, encoder, heads); forked processes on Linux, threads elsewhere."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


# ------------------------------------------------------------------------------------------------
# add-edits
# ------------------------------------------------------------------------------------------------
@dataclass
class AddEditsConfig:
    model: Path = field(default=DEFAULT_MODEL, metadata={"help": "Model folder written by `finetune`; its neighbour index (neighbors.*) is extended in place."})
    data: Path | None = field(default=None, metadata={"required": True, "help": "Catalog of newly edited photos (ROOT/Train/images + sliders.csv with Temperature/Tint)."})
    split: str = field(default="Train", metadata={"help": "Split of --data holding the edited photos."})
    skip_bad: bool = field(default=False, metadata={"help": "Skip and count photos with a missing label, an unreadable image or an id already in the index, instead of stopping at them."})
    device: str = field(default="auto", metadata={"help": "Where the encoder runs: 'auto' (onnxruntime's CUDA provider when installed, else the CPU), 'cpu' or 'cuda'."})
    threads: int = field(default=THREADS, metadata={"help": "Cores to use: one worker each, running chunks of photos whole (decode, statistics, encoder)."})
    workers: int = field(default=1, metadata={"help": "Image decoding threads inside each worker."})
    lock_timeout: float = field(default=LOCK_TIMEOUT, metadata={"help": "Seconds to wait while another run writes the same model folder, then give up."})
    progress: bool = field(default=True, metadata={"help": "Show progress and the summary."})


# ------------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------------
@dataclass
class EvaluateConfig:
    data: Path | None = field(default=None, metadata={
        "help": "Catalog root (ROOT/Train[+Validation]) or folder whose photos are evaluated; its labels are "
                "the truth unless --answers is given."})
    model: Path | None = field(default=None, metadata={
        "help": "Model folder (encoder.pt, head.pt, neighbors.*) to predict with. Needs --data."})
    pred: Path | None = field(default=None, metadata={
        "help": "Predictions CSV (id_global,Temperature,Tint) to score instead of running a model."})
    answers: Path | None = field(default=None, metadata={
        "help": "Answers CSV (id_global,Temperature,Tint[,...]) holding the labels, e.g. the synthetic "
                "benchmark's answers.csv; pairs with the Validation split."})
    split: str = field(default="auto", metadata={
        "help": "Split to evaluate: auto (Validation with --answers or when it has labels, else Train), "
                "Train, Validation or folder. Train is optimistic if the model was trained on it."})
    out: Path | None = field(default=None, metadata={
        "help": "Output folder for evaluation.json and plots (default MODEL/eval, else ./eval)."})
    blend: bool = field(default=True, metadata={
        "help": "Also evaluate neighbour blending (when the model has a neighbour index)."})
    consistency: bool = field(default=True, metadata={
        "help": "Measure variant and as-shot bracket spread (needs --model)."})
    n_variants: int = field(default=5, metadata={
        "help": "WB-preserving variants per photo (crop/zoom/flip/paste) for the variant spread."})
    n_brackets: int = field(default=6, metadata={
        "help": "As-shot temperatures, 2500-12000 K evenly in mired, for the bracket spread."})
    max_photos: int = field(default=200, metadata={
        "help": "Photos (seeded subsample) used for the consistency probes."})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | mps."})
    seed: int = field(default=0, metadata={"help": "Seed for the subsample and the variants."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars and the result tables."})


# ------------------------------------------------------------------------------------------------
# audit
# ------------------------------------------------------------------------------------------------
@dataclass
class AuditConfig:
    data: Path = field(metadata={"help": "Catalog root (ROOT/Train[+Validation]) or a single catalog folder; "
                                         "its Train split supplies the neighbour photos.", "required": True})
    model: Path = field(default=DEFAULT_MODEL, metadata={
        "help": "Model folder (encoder.pt, head.pt, neighbors.*)."})
    out: Path | None = field(default=None, metadata={"help": "Output folder (default: MODEL/audit)."})
    ids: str | None = field(default=None, metadata={
        "help": "Comma-separated id_global values to audit (overrides --worst)."})
    worst: int = field(default=20, metadata={
        "help": "Audit the N photos whose render at the prediction looks furthest from the edit (largest ΔE00) "
                "when the split has labels, else the N whose head prediction disagrees most with their "
                "neighbours' edits."})
    answers: Path | None = field(default=None, metadata={
        "help": "CSV id_global,Temperature,Tint with the audited photos' true edits when their split has none "
                "(default: DATA/answers.csv when present, as the demo catalog writes)."})
    k: int = field(default=8, metadata={
        "help": "Neighbours shown per photo (predictions use the model's own blending settings)."})
    split: str = field(default="auto", metadata={
        "help": "Split to audit: auto (Validation if present, else Train, else the single folder) | "
                "Train | Validation | folder."})
    anomalies: bool = field(default=True, metadata={
        "help": "Also list training edits that disagree with their near-duplicates' (compared as the model's "
                "blend mode carries edits over: as corrections of the as-shot WB for 'shift'; anomalies.csv + grids)."})
    anomaly_grids: int = field(default=12, metadata={"help": "Grids drawn for the top N anomalies."})
    anomaly_min_sim: float = field(default=0.85, metadata={
        "help": "Cosine similarity from which a training photo counts as a near-duplicate for anomalies."})
    anomaly_z: float = field(default=3.0, metadata={
        "help": "Robust z (vs. the near-duplicates' median edit and spread) from which an edit is flagged."})
    tile: int = field(default=256, metadata={"help": "Tile size of the grids (pixels)."})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | mps (for embedding the photos)."})
    seed: int = field(default=0, metadata={"help": "Seed (the audit is deterministic; kept for provenance)."})
    workers: int = field(default=2, metadata={"help": "Threads decoding images."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


# ------------------------------------------------------------------------------------------------
# import-lightroom
# ------------------------------------------------------------------------------------------------
@dataclass
class ImportConfig:
    catalog: Path = field(metadata={"help": "The Lightroom Classic catalog (.lrcat); opened read-only."})
    out: Path = field(default=Path("artifacts/lightroom"), metadata={
        "help": "Folder to write: OUT/Train/sliders.csv + OUT/Train/images/*.tif, and OUT/lightroom_import.csv "
                "(every catalog photo with what happened to it)."})
    include_rejects: bool = field(default=False, metadata={"help": "Also learn from rejected photos (pick = -1)."})
    relocate: str = field(default="", metadata={
        "help": "OLD=NEW: photos moved since the catalog saw them; a root folder path starting with OLD "
                "starts with NEW instead (e.g. 'D:/Photos/=/mnt/photos/')."})
    size: int = field(default=256, metadata={"help": "Side of the renders written (pixels)."})
    workers: int = field(default=2, metadata={"help": "Threads decoding photos."})
    fresh: bool = field(default=False, metadata={
        "help": "Start over instead of continuing an interrupted import into OUT."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars and the summary table."})


# ------------------------------------------------------------------------------------------------
# ingest
# ------------------------------------------------------------------------------------------------
@dataclass
class IngestConfig:
    photos: Path = field(metadata={
        "help": "Folder of new, unedited photos (raws, DNG, JPEG, TIFF), searched recursively."})
    out: Path = field(default=Path("artifacts/ingest"), metadata={
        "help": "Folder to write: OUT/Validation/sliders_inputs.csv + OUT/Validation/images/<stem>.tif."})
    size: int = field(default=256, metadata={"help": "Side of the renders written (pixels)."})
    workers: int = field(default=2, metadata={"help": "Threads decoding photos."})
    fresh: bool = field(default=False, metadata={
        "help": "Start over instead of continuing an interrupted ingest into OUT."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars and the summary table."})


# ------------------------------------------------------------------------------------------------
# apply
# ------------------------------------------------------------------------------------------------
@dataclass
class ApplyConfig:
    predictions: Path = field(metadata={"help": "CSV written by `predict`: id_global,Temperature,Tint."})
    photos: Path = field(default=Path("."), metadata={
        "help": "Folder holding the photos (searched recursively), the one ingest was given: each is found by "
                "the id ingest gave it."})
    catalog: Path | None = field(default=None, metadata={
        "help": "The Lightroom Classic catalog (.lrcat, opened read-only): each XMP then carries every develop "
                "setting the catalog holds for the photo, with only the white balance changed."})
    relocate: str = field(default="", metadata={
        "help": "OLD=NEW: with --catalog, photos moved since the catalog saw them (as for import-lightroom)."})
    wb_only: bool = field(default=False, metadata={
        "help": "Without --catalog, allow XMP that holds only the white balance for photos with no saved "
                "settings (Read Metadata from Files then resets their other edits)."})
    dry_run: bool = field(default=False, metadata={"help": "Print the old -> new table and write nothing."})
    force: bool = field(default=False, metadata={"help": "Overwrite a white balance someone set by hand."})
    lock_timeout: float = field(default=LOCK_TIMEOUT, metadata={"help": "Seconds to wait while another `apply` writes into the same photo folder, then give up."})
    skip_hand_set: bool = field(default=False, metadata={
        "help": "Leave photos with a hand-set white balance as they are, write the others, and list the skipped."})
    progress: bool = field(default=True, metadata={"help": "Show the table of changes."})


# ------------------------------------------------------------------------------------------------
# demo
# ------------------------------------------------------------------------------------------------
@dataclass
class DemoConfig:
    out: Path = field(default=Path("artifacts/demo"), metadata={
        "help": "Folder for the demo catalog (OUT/catalog) and the model, predictions, audit and plots (OUT/model)."})
    n_train: int = field(default=240, metadata={"help": "Edited (labelled) demo photos."})
    n_val: int = field(default=60, metadata={"help": "Unseen demo photos to predict."})
    size: int = field(default=256, metadata={"help": "Side of the demo renders (pixels)."})
    pretrain_epochs: int = field(default=12, metadata={"help": "SimCLR epochs of stage 1 (12 keeps the demo under a minute on an AVX2-only CPU)."})
    finetune_epochs: int = field(default=40, metadata={"help": "Head epochs of stage 2."})
    ensemble: int = field(default=3, metadata={"help": "Heads averaged in stage 2 (the product default)."})
    image_size: int = field(default=96, metadata={"help": "Side of the encoder's input (pixels)."})
    width: int = field(default=24, metadata={"help": "Encoder width (channels of its first stage)."})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | mps."})
    seed: int = field(default=0, metadata={"help": "Seed of the demo data and of every stage."})
    lock_timeout: float = field(default=LOCK_TIMEOUT, metadata={"help": "Seconds to wait while another run writes the same model folder, then give up."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars and tables."})
    lightroom: bool = field(default=False, metadata={
        "help": "Run the Lightroom loop instead: DNG/JPEG folders + .lrcat -> import-lightroom -> pretrain/finetune "
                "-> ingest -> predict -> apply -> evaluate."})
