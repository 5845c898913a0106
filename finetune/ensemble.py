"""Stage 2's regression outputs: target units, and the ensemble that turns inputs into predictions.

Temperature and Tint are learned as the *absolute* edit, in the units edits are linear in:
Temperature in mired (1e6/K), Tint as is. Not as a shift from the camera's as-shot white balance:
every image input is computed on the canonical render (core.canonical: the photo re-rendered
from its as-shot to one fixed reference), so the image says what the light was, whatever the camera
guessed, and the as-shot never enters an image member. A shift target would add the as-shot back
into every prediction (issue #12 measured predictions tracking it with correlation +0.96). Any other
target (e.g. Exposure) is learned directly, or as a shift from `curr<Name>` when the catalog has that
column. Each target is centred and scaled by its training median / spread, so one Huber loss with
delta ~1 spread treats all targets alike and shrugs off the odd 49,000 K label.

The one exception is the as-shot-aware member (finetune.trust): it reads the as-shot on purpose, and
pulls the image members' prediction only as far as this catalog's validation trusted it (on most
catalogs not at all: then it is not even saved).

Numpy only: the same HeadEnsemble serves training (validation folds, refit) and predict, which runs
without torch (finetune.mlp is the heads' forward pass; finetune.model trains them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from core.canonical import REF_TEMP, REF_TINT, to_reference
from core.wb import TEMP_MAX, TEMP_MIN, TINT_MAX, TINT_MIN, kelvin_to_mired, mired_to_kelvin
from finetune.gbm import Forest, gbm_inputs
from finetune.mlp import check_state, ensemble_forward
from finetune.trust import TrustParams, apply_trust, aware_inputs

PREDICT_ROWS = 4096  # photos per block in HeadEnsemble.predict_parts (bounded memory, same result)


# head layout; 2: float16 heads, gradient-boosting member as a packed finetune.gbm.Forest; 3: absolute
# targets on canonical-render inputs (core.canonical), reference white balance stored; 4: the heads
# as numpy arrays run by finetune.mlp (no torch at predict), the encoder as ONNX (pretrain.onnx); 5: the
# as-shot-aware member and its validated pull (finetune.trust), which a format-4 reader would ignore
HEAD_FORMAT = 5
# Metadata features the image members never see: the camera's as-shot guess (and its missing flags).
IMAGE_META_EXCLUDED = ("asshot_mired", "asshot_tint")


@dataclass
class TargetSpec:
    """How one CSV target maps to the head's output unit.

    kind: "mired" (Temperature in mired; a shift from `anchor` when one is given), "shift" (label −
    anchor column), "direct" (the label itself). centre/scale: training median and spread of that unit.
    """
    name: str
    kind: str
    anchor: str | None
    centre: float = 0.0
    scale: float = 1.0
    lo: float = -np.inf     # clip range of the final value in CSV units
    hi: float = np.inf

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lo"], d["hi"] = float(self.lo), float(self.hi)  # JSON has no inf; json.dumps writes Infinity
        return d


def make_specs(targets: list[str] | tuple[str, ...], columns) -> list[TargetSpec]:
    specs = []
    for name in targets:
        if name == "Temperature":  # absolute (see module doc)
            specs.append(TargetSpec(name, "mired", None, lo=TEMP_MIN, hi=TEMP_MAX))
        elif name == "Tint":
            specs.append(TargetSpec(name, "direct", None, lo=TINT_MIN, hi=TINT_MAX))
        elif f"curr{name}" in columns:
            specs.append(TargetSpec(name, "shift", f"curr{name}"))
        else:
            specs.append(TargetSpec(name, "direct", None))
    return specs


def anchor_units(table: pd.DataFrame, specs: list[TargetSpec]) -> np.ndarray:
    """(N, T) what the head's output is added to, per target in the head's units: 0 for absolute
    targets (Temperature, Tint), the anchor column for shift targets."""
    cols = []
    for s in specs:
        if s.anchor is None:
            cols.append(np.zeros(len(table)))
            continue
        a = pd.to_numeric(table[s.anchor], errors="coerce").to_numpy(np.float64)
        cols.append(kelvin_to_mired(a) if s.kind == "mired" else a)
    return np.stack(cols, 1) if cols else np.zeros((len(table), 0))


def asshot_units(table: pd.DataFrame, specs: list[TargetSpec]) -> np.ndarray:
    """(N, T) the camera's as-shot value per target in the head's units (mired(currTemp) for
    Temperature, currTint for Tint, the anchor column of a shift target, 0 otherwise): the as-shot
    baseline, the shift the gradient-boosting baselines learn from, the blend's shift mode."""
    cols = []
    for s in specs:
        col = {"Temperature": "currTemp", "Tint": "currTint"}.get(s.name, s.anchor)
        if col is None or col not in table.columns:
            cols.append(np.zeros(len(table)))
            continue
        a = pd.to_numeric(table[col], errors="coerce").to_numpy(np.float64)
        cols.append(kelvin_to_mired(a) if s.kind == "mired" else a)
    return np.stack(cols, 1) if cols else np.zeros((len(table), 0))


def image_meta_columns(feature_names: list[str]) -> np.ndarray:
    """Indices of the metadata features the image members read: all but IMAGE_META_EXCLUDED (and their
    missing flags), so the camera's as-shot guess cannot move a prediction."""
    drop = set(IMAGE_META_EXCLUDED) | {f"{k}_missing" for k in IMAGE_META_EXCLUDED}
    return np.array([i for i, k in enumerate(feature_names) if k not in drop], np.int64)


def label_units(table: pd.DataFrame, specs: list[TargetSpec]) -> np.ndarray:
    """(N, T) labels in the head's units before subtracting the anchor (mired for Temperature)."""
    cols = []
    for s in specs:
        v = pd.to_numeric(table[s.name], errors="coerce").to_numpy(np.float64)
        cols.append(kelvin_to_mired(np.clip(v, TEMP_MIN, TEMP_MAX)) if s.kind == "mired" else v)
    return np.stack(cols, 1)


def fit_scaling(shifts: np.ndarray, specs: list[TargetSpec]) -> list[TargetSpec]:
    """New specs: each of `specs` with its centre (median) and scale (robust spread: 1.4826·MAD,
    floored by 0.5·std) fitted to its column of `shifts`; `specs` are left as they are."""
    fitted = []
    for j, s in enumerate(specs):
        v = shifts[:, j][np.isfinite(shifts[:, j])]
        med = float(np.median(v)) if v.size else 0.0
        mad = 1.4826 * float(np.median(np.abs(v - med))) if v.size else 1.0
        sd = float(v.std()) if v.size else 1.0
        fitted.append(replace(s, centre=med, scale=max(mad, 0.5 * sd, 1e-3)))
    return fitted


def scale_targets(shifts: np.ndarray, specs: list[TargetSpec]) -> np.ndarray:
    c = np.array([s.centre for s in specs])
    k = np.array([s.scale for s in specs])
    return ((shifts - c) / k).astype(np.float32)


def unscale_targets(z: np.ndarray, specs: list[TargetSpec]) -> np.ndarray:
    c = np.array([s.centre for s in specs])
    k = np.array([s.scale for s in specs])
    return np.asarray(z, np.float64) * k + c


def to_csv_units(units: np.ndarray, specs: list[TargetSpec]) -> np.ndarray:
    """Head units (anchor added back) -> CSV units: mired -> K; clipped to each target's range."""
    out = np.array(units, np.float64, copy=True)
    for j, s in enumerate(specs):
        if s.kind == "mired":
            out[:, j] = mired_to_kelvin(np.clip(out[:, j], kelvin_to_mired(TEMP_MAX), kelvin_to_mired(TEMP_MIN)))
        out[:, j] = np.clip(out[:, j], s.lo, s.hi)
    return out


@dataclass(frozen=True)
class MemberPredictions:
    """What HeadEnsemble.predict_parts returns: each member family's targets (N, T) in head units,
    before adding anchor_units."""

    mlp: np.ndarray
    """The MLP heads' mean."""
    image: np.ndarray
    """The image members' mix: the MLP heads and the gradient-boosting member by their weights."""
    mix: np.ndarray
    """The prediction: `image` pulled towards `aware` as far as validation trusted it (finetune.trust)."""
    gbm: np.ndarray | None = None
    """The gradient-boosting member; None when the model has none."""
    aware: np.ndarray | None = None
    """The as-shot-aware member; None unless the model has one and `shot` was given."""

    @classmethod
    def concat(cls, blocks: list["MemberPredictions"]) -> "MemberPredictions":
        """The blocks' rows one after another (a member absent from the first block is absent from all)."""
        return cls(**{f.name: None if getattr(blocks[0], f.name) is None
                      else np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(cls)})


def _half(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Storage copy: floating arrays as float16 (training rounds the weights to float16 first, so the
    stored model is the validated one)."""
    return {k: np.asarray(v).astype(np.float16) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for k, v in state.items()}


def _float(state: dict[str, Any], what: str) -> dict[str, np.ndarray]:
    """Inverse of _half: float32 arrays, every weight of a head present."""
    out = {k: np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
           for k, v in state.items()}
    check_state(out, what)
    return out


def _forest(v: Forest | bytes | None) -> Forest | None:
    """A stored gradient-boosting forest: packed bytes (state_dict) or already parsed (load_head)."""
    return v if v is None or isinstance(v, Forest) else Forest.unpack(v)


def _std(a: np.ndarray) -> np.ndarray:
    s = a.std(0)
    return np.where(s > 1e-8, s, 1.0)


class HeadEnsemble:
    """Everything needed to turn (embedding, colour features, catalog rows) into predictions:
    the ensemble of heads, the metadata-only fallback head, the input standardisation, the
    metadata encoder and the target specs. Used by training (validation folds, refit) and by
    finetune.predict, so both run exactly the same code — numpy only, so predicting needs no torch.

    heads / fallback: each head's weights as float32 arrays keyed like WBHead's state dict
    (finetune.model.head_arrays turns a trained WBHead into that; finetune.mlp runs it)."""

    def __init__(self, heads: list[dict[str, np.ndarray]], specs: list[TargetSpec], meta_encoder, emb_mean, emb_std,
                 colour_mean, colour_std, fallback: dict[str, np.ndarray] | None = None, gbm: Forest | None = None,
                 gbm_weight: float | list[float] | np.ndarray = 0.0,
                 reference: tuple[float, float] = (REF_TEMP, REF_TINT), aware: Forest | None = None,
                 trust: TrustParams | None = None):
        self.heads, self.specs, self.meta_encoder, self.fallback = heads, specs, meta_encoder, fallback
        # The white balance every image input is rendered at (core.canonical), stored with the model
        # so a later change of the default cannot silently change what a saved model sees.
        self.reference = (float(reference[0]), float(reference[1]))
        # Optional gradient-boosting member (finetune.gbm.Forest: one model per target, on metadata + raw
        # image statistics), averaged with the MLP heads: different model families err differently, so
        # the mix beats both.
        # The weight is per target (one value broadcasts): finetune chooses each on validation, since the
        # better family differs by catalog and by target.
        self.gbm = gbm
        self.gbm_weight = (np.broadcast_to(np.asarray(gbm_weight, np.float64), (len(specs),)).copy()
                           if gbm is not None else np.zeros(len(specs)))
        self.emb_mean, self.emb_std = np.asarray(emb_mean, np.float32), np.asarray(emb_std, np.float32)
        self.colour_mean = np.asarray(colour_mean, np.float32)
        self.colour_std = np.asarray(colour_std, np.float32)
        # The as-shot-aware member and how far validation lets it pull the image members' prediction
        # (finetune.trust; off unless it won by a wide margin on this catalog's validation shoots).
        self.aware = aware
        self.trust = trust if trust is not None else TrustParams.off(len(specs))

    def with_members(self, gbm_weight: Any = None, trust: TrustParams | None = None, aware: Forest | None = None
                     ) -> "HeadEnsemble":
        """A new ensemble sharing this one's heads, with the validated member weights: the GBM member's weight
        (None: keep), the as-shot trust and the as-shot-aware member (None: no such member)."""
        return HeadEnsemble(self.heads, self.specs, self.meta_encoder, self.emb_mean, self.emb_std, self.colour_mean,
                            self.colour_std, self.fallback, self.gbm,
                            self.gbm_weight if gbm_weight is None else gbm_weight, self.reference, aware,
                            self.trust if trust is None else trust)

    @property
    def reads_asshot(self) -> bool:
        """Whether predictions read the as-shot (the trusted as-shot-aware member): then predict_parts
        needs the colour statistics of the photo as the camera rendered it."""
        return self.aware is not None and self.trust.active

    def canonical(self, images: np.ndarray, table: pd.DataFrame) -> np.ndarray:
        """uint8 renders at each row's as-shot (currTemp, currTint) -> the canonical renders this model
        reads (core.canonical.to_reference at the model's reference white balance)."""
        return to_reference(images, table["currTemp"].to_numpy(np.float64), table["currTint"].to_numpy(np.float64),
                            self.reference)

    @staticmethod
    def input_stats(emb: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, ...]:
        return emb.mean(0), _std(emb), colour.mean(0), _std(colour)

    def standardise(self, emb: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = (np.asarray(emb, np.float32) - self.emb_mean) / self.emb_std
        c = (np.asarray(colour, np.float32) - self.colour_mean) / self.colour_std
        # Colour statistics of a black / blown-out frame can be extreme; keep them in a sane range.
        return e.astype(np.float32), np.clip(c, -8, 8).astype(np.float32)

    def _run(self, heads: list[dict[str, np.ndarray]], emb, colour, meta, cam) -> np.ndarray:
        return unscale_targets(ensemble_forward(heads, emb, colour, meta, np.asarray(cam, np.int64)), self.specs)

    def predict_parts(self, emb: np.ndarray, colour: np.ndarray, table: pd.DataFrame,
                      exif_units: str, shot: np.ndarray | None = None) -> MemberPredictions:
        """Each member family's targets (N, T) in head units, before adding anchor_units (0 for
        Temperature/Tint): see MemberPredictions. emb/colour: of the canonical render; shot:
        finetune.trust.asshot_stats of the photo as the camera rendered it (required when `reads_asshot`).

        Runs in blocks of PREDICT_ROWS rows (rows are independent): at once, 20,000 photos took ~90 MB
        of copies of the embeddings and hidden layers; in blocks the memory does not grow with them.
        Catalogs up to PREDICT_ROWS photos run exactly as before; larger ones match to float32
        rounding (measured bit-identical here for 20,000 photos: BLAS uses the same kernels)."""
        if len(emb) > PREDICT_ROWS:
            return MemberPredictions.concat([
                self.predict_parts(emb[i:i + PREDICT_ROWS], colour[i:i + PREDICT_ROWS], table.iloc[i:i + PREDICT_ROWS],
                                   exif_units, None if shot is None else shot[i:i + PREDICT_ROWS])
                for i in range(0, len(emb), PREDICT_ROWS)])
        if self.reads_asshot and shot is None:
            raise ValueError("this model trusts its as-shot-aware member: pass `shot` "
                             "(finetune.trust.asshot_stats of the photos as the camera rendered them)")
        e, c = self.standardise(emb, colour)
        meta_all, cam = self.meta_encoder.transform(table, exif_units)
        meta = meta_all[:, image_meta_columns(self.meta_encoder.feature_names)]
        mlp = self._run(self.heads, e, c, meta, cam)
        gbm, image = None, mlp
        if self.gbm is not None:
            gbm = self.gbm.predict(gbm_inputs(meta, cam, colour)[0])
            image = (1 - self.gbm_weight) * mlp + self.gbm_weight * gbm
        aware, mix = None, image
        if self.aware is not None and shot is not None:
            # its shift is from the as-shot; in head units before the anchor like the other members
            base = asshot_units(table, self.specs) - anchor_units(table, self.specs)
            aware = base + self.aware.predict(aware_inputs(meta_all, cam, colour, shot)[0])
            mix = apply_trust(image, aware, self.trust)
        return MemberPredictions(mlp=mlp, image=image, mix=mix, gbm=gbm, aware=aware)

    def predict_shift(self, emb: np.ndarray, colour: np.ndarray, table: pd.DataFrame, exif_units: str,
                      shot: np.ndarray | None = None) -> np.ndarray:
        """Ensemble-mean targets (N, T) in head units (mired, tint, ...; see predict_parts)."""
        return self.predict_parts(emb, colour, table, exif_units, shot).mix

    def predict_fallback_shift(self, table: pd.DataFrame, exif_units: str) -> np.ndarray:
        """Metadata-only targets (N, T) for photos whose image cannot be read (the only member that
        reads the as-shot: without an image it is the best cue, and there is nothing to re-render)."""
        meta, cam = self.meta_encoder.transform(table, exif_units)
        empty = np.zeros((len(table), 0), np.float32)
        if self.fallback is None:
            return unscale_targets(np.zeros((len(table), len(self.specs))), self.specs)  # median shift
        return self._run([self.fallback], empty, empty, meta, cam)

    def state_dict(self) -> dict[str, Any]:
        """Weights in float16 (training rounds them first, see finetune.train.fit_model) and the
        gradient-boosting member as packed arrays (finetune.gbm.Forest.pack), for the model's 4 MB
        budget."""
        return {"heads": [_half(h) for h in self.heads],
                "fallback": _half(self.fallback) if self.fallback is not None else None,
                "targets": [s.to_dict() for s in self.specs],
                "metadata_encoder": self.meta_encoder.state_dict(),
                "emb_mean": self.emb_mean.tolist(), "emb_std": self.emb_std.tolist(),
                "colour_mean": self.colour_mean.tolist(), "colour_std": self.colour_std.tolist(),
                "gbm": self.gbm.pack() if self.gbm is not None else None,
                "gbm_weight": [float(w) for w in self.gbm_weight],
                "reference_wb": list(self.reference),
                # the as-shot-aware member travels only when trusted (finetune.trust): else it is dead weight
                "aware": self.aware.pack() if self.reads_asshot else None,
                "trust": self.trust.to_dict()}

    @classmethod
    def from_state_dict(cls, d: dict[str, Any]) -> "HeadEnsemble":
        """Inverse of state_dict; a forest may come packed (bytes) or already parsed (finetune.store.load_head)."""
        from core.metadata import MetadataEncoder

        heads = [_float(sd, "head") for sd in d["heads"]]
        fallback = _float(d["fallback"], "fallback head") if d.get("fallback") is not None else None
        specs = [TargetSpec(**s) for s in d["targets"]]
        gbm, aware = (_forest(d.get(key)) for key in ("gbm", "aware"))
        trust = TrustParams.from_dict(d.get("trust"), len(specs))  # the choice and its figures, trusted or not
        return cls(heads, specs, MetadataEncoder.from_state_dict(d["metadata_encoder"]), d["emb_mean"],
                   d["emb_std"], d["colour_mean"], d["colour_std"], fallback, gbm, d.get("gbm_weight", 0.0),
                   tuple(d["reference_wb"]), aware, trust)

