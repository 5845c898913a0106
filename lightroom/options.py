"""The options of the Lightroom commands (import-lightroom, ingest, apply): one dataclass per command,
one field per command-line option, its help the field's docstring."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.locks import LOCK_TIMEOUT


@dataclass
class ImportConfig:
    catalog: Path
    """The Lightroom Classic catalog (.lrcat); opened read-only."""
    out: Path = Path("artifacts/lightroom")
    """Folder to write: OUT/Train/sliders.csv + OUT/Train/images/*.tif, and OUT/lightroom_import.csv (every catalog
    photo with what happened to it)."""
    include_rejects: bool = False
    """Also learn from rejected photos (pick = -1)."""
    relocate: str = ""
    """OLD=NEW: photos moved since the catalog saw them; a root folder path starting with OLD starts with NEW instead
    (e.g. 'D:/Photos/=/mnt/photos/')."""
    size: int = 256
    """Side of the renders written (pixels)."""
    workers: int = 2
    """Threads decoding photos."""
    fresh: bool = False
    """Start over instead of continuing an interrupted import into OUT."""
    progress: bool = True
    """Show progress bars and the summary table."""


@dataclass
class IngestConfig:
    photos: Path
    """Folder of new, unedited photos (raws, DNG, JPEG, TIFF), searched recursively."""
    out: Path = Path("artifacts/ingest")
    """Folder to write: OUT/Validation/sliders_inputs.csv + OUT/Validation/images/<stem>.tif."""
    size: int = 256
    """Side of the renders written (pixels)."""
    workers: int = 2
    """Threads decoding photos."""
    fresh: bool = False
    """Start over instead of continuing an interrupted ingest into OUT."""
    progress: bool = True
    """Show progress bars and the summary table."""


@dataclass
class ApplyConfig:
    predictions: Path
    """CSV written by `predict`: id_global,Temperature,Tint."""
    photos: Path = Path(".")
    """Folder holding the photos (searched recursively), the one ingest was given: each is found by the id ingest gave
    it."""
    catalog: Path | None = None
    """The Lightroom Classic catalog (.lrcat, read-only): each XMP then keeps the photo's other develop settings from
    it, with only the white balance changed."""
    relocate: str = ""
    """OLD=NEW: with --catalog, photos moved since the catalog saw them (as for import-lightroom)."""
    wb_only: bool = False
    """Without --catalog, allow XMP that holds only the white balance for photos with no saved settings (Read Metadata
    from Files then resets their other edits)."""
    dry_run: bool = False
    """Print the old -> new table and write nothing."""
    force: bool = False
    """Overwrite a white balance someone set by hand."""
    lock_timeout: float = LOCK_TIMEOUT
    """Seconds to wait while another `apply` writes into the same photo folder, then give up."""
    skip_hand_set: bool = False
    """Leave photos with a hand-set white balance as they are, write the others, and list the skipped."""
    progress: bool = True
    """Show the table of changes."""
