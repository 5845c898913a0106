"""The model folder on disk: data-only files, written atomically, sealed by a manifest.

Why: photographers share and sell style models, so a model folder from someone else is untrusted
input, and a pickle (what `torch.save` writes) runs code when it is loaded. Every file here is
plain data that loads without executing anything:

    *.safetensors   tensors (safetensors: a JSON header + raw bytes; read with safetensors.numpy)
    *.npz           numpy arrays, always loaded with allow_pickle=False
    *.json          config, encoders, metadata
    manifest.json   each file's SHA-256 and size, the versions and config that made the model

Crash safety: a file is written to a temporary file in the same folder, fsynced and renamed into
place (os.replace is atomic), so no reader ever sees half a file. A whole model is written by a
`ModelWriter` into `FOLDER/.incoming/` while training runs; `commit` seals it with its manifest,
renames `.incoming` to `.commit` (the one atomic step that decides "the new model is complete")
and then moves the files into FOLDER, the manifest last. A run killed before that rename leaves the
previous model untouched; one killed during the moves is finished by the next `open_model`
(`recover`). So the folder always holds one complete model, the old or the new.

Concurrency (core.locks): a ModelWriter holds the folder's write lock from its start to its end
(a command takes it earlier, at its own start, so that what it reads is what it replaces), so two
writers never share `.incoming`. Its commit holds the read lock exclusively, and a reader holds it
shared from its manifest check to the last file it loads (`reading`): the moves of a commit and the
loading of a model exclude each other, so a reader gets the old model or the new one, whole. The
commit's renames take milliseconds; a reader holds the lock only while it loads, never while it
predicts, so neither waits long. Old folders need nothing: the lock files appear beside the model.

Loading (`open_model`) checks the manifest first and names the file that does not match; a folder
from an older wbstyle (pickled head.pt / encoder.pt) gets an error saying to re-run finetune.

    with ModelWriter(out) as w:
        save_tensors(w.dir / "head.safetensors", tensors)
        write_json(w.dir / "head.json", meta)
        w.commit(provenance={...})
    manifest = open_model(out, required=("head.safetensors", "head.json"))
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from core.errors import CatalogError
from core.locks import FolderFlock, write_lock

MANIFEST = "manifest.json"
FORMAT = "wbstyle-model"
FORMAT_VERSION = 1
INCOMING, COMMIT = ".incoming", ".commit"  # staging folders inside the model folder
LEGACY_FILES = ("head.pt", "encoder.pt")  # pickled files of wbstyle before the data-only format
RERUN = "re-run `finetune` to write the model again"


# --------------------------------------------------------------------------- atomic writes
def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX: the directory entry lives in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; os.replace is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call write(binary file) on a temporary file beside `path`, fsync, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_json(path: str | Path, obj: Any) -> Path:
    """JSON, atomically. NaN/inf are written as null/strings by the caller's choice (default=str)."""
    return write_bytes(path, json.dumps(obj, indent=2, default=str).encode("utf-8"))


def save_tensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> Path:
    """numpy arrays -> a .safetensors file (contiguous copies; names are the keys)."""
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)
    return write_bytes(path, data)


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """numpy arrays -> a compressed .npz (object arrays refused: they would need pickle to load)."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"{path}: array '{k}' has dtype object, which only pickle can store")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- data-only reads
def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: file missing; {RERUN}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CatalogError(f"{path}: not readable as JSON ({e}); {RERUN}") from e


def load_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """A .safetensors file -> {name: numpy array}; CatalogError naming the file when it is not one."""
    from safetensors.numpy import load

    path = Path(path)
    try:
        return load(path.read_bytes())
    except FileNotFoundError:
        raise CatalogError(f"{path}: file missing; {RERUN}") from None
    except Exception as e:  # safetensors raises its own SafetensorError for any malformed file
        raise CatalogError(f"{path}: not a valid safetensors file ({type(e).__name__}: {e}); {RERUN}") from e


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """A .npz file -> {name: array}, never unpickling (object arrays raise)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CatalogError(f"{path}: file missing; {RERUN}") from None
    except Exception as e:  # zipfile.BadZipFile, ValueError (object arrays), OSError ...
        raise CatalogError(f"{path}: not a valid numpy .npz file ({type(e).__name__}: {e}); {RERUN}") from e


# --------------------------------------------------------------------------- the manifest
def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_for(folder: Path, names: Sequence[str], provenance: dict[str, Any] | None) -> dict[str, Any]:
    files = {n: {"sha256": sha256(folder / n), "bytes": (folder / n).stat().st_size} for n in sorted(names)}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "files": files,
            "written": datetime.now(timezone.utc).isoformat(), **(provenance or {})}


def _legacy_hint(folder: Path) -> str:
    old = [n for n in LEGACY_FILES if (folder / n).exists()]
    if old:
        return (f"{folder}: a model folder from an older wbstyle ({', '.join(old)}: pickled Python objects, "
                f"which this version never loads because a pickle can run code); {RERUN} in the data-only format")
    return f"{folder}: {MANIFEST} missing: not a complete model folder (an interrupted finetune?); {RERUN}"


def verify(folder: str | Path, required: Sequence[str] = ()) -> dict[str, Any]:
    """Check every file the manifest lists (present, same size, same SHA-256) and that `required`
    files are listed; returns the manifest. CatalogError names the first file that does not match."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"{folder}: model folder not found")
    path = folder / MANIFEST
    if not path.is_file():
        raise CatalogError(_legacy_hint(folder))
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise CatalogError(f"{path}: not a wbstyle model manifest; {RERUN}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CatalogError(f"{path}: model format {manifest.get('format_version')}, this version reads "
                           f"{FORMAT_VERSION}; {RERUN}")
    for name in required:
        if name not in manifest["files"]:
            raise CatalogError(f"{folder / name}: not part of this model ({MANIFEST} does not list it); {RERUN}")
    for name, entry in manifest["files"].items():
        p = folder / name
        if Path(name).name != name or name in (".", ".."):
            raise CatalogError(f"{path}: lists {name!r}, which is not a file name in the folder")
        if not p.is_file():
            raise CatalogError(f"{p}: missing from the model folder ({MANIFEST} lists it); {RERUN}")
        if p.stat().st_size != entry.get("bytes") or sha256(p) != entry.get("sha256"):
            raise CatalogError(f"{p}: does not match {MANIFEST} (SHA-256 or size differs: the file was "
                               f"truncated, edited or replaced after the model was written); {RERUN}")
    return manifest


def recover(folder: str | Path) -> None:
    """Finish a commit that was interrupted while moving files (see module doc); drop stale staging.
    The caller holds the folder's read lock exclusively (FolderFlock)."""
    folder = Path(folder)
    done = folder / COMMIT
    if done.is_dir():
        names = sorted(p.name for p in done.iterdir() if p.name != MANIFEST)
        def listed(path: Path) -> set[str]:
            try:
                return set(json.loads(path.read_text()).get("files", {}))
            except (OSError, ValueError, AttributeError):
                return set()

        # files of the previous model that the new one does not have must not linger as "its" files
        previous, new = listed(folder / MANIFEST), listed(done / MANIFEST)
        for name in names + ([MANIFEST] if (done / MANIFEST).exists() else []):
            os.replace(done / name, folder / name)
        _fsync_dir(folder)
        for name in previous - new - {MANIFEST}:
            if Path(name).name == name:
                (folder / name).unlink(missing_ok=True)
        shutil.rmtree(done, ignore_errors=True)


@contextmanager
def reading(folder: str | Path) -> Iterator[None]:
    """Hold FOLDER's read lock (shared) while a model is checked and loaded: no commit moves files
    meanwhile. A commit that a killed writer left half done is finished first (exclusively)."""
    folder = Path(folder)
    with FolderFlock(folder) as lock:
        if (folder / COMMIT).is_dir():  # a live writer moves files only while it holds the lock
            lock.exclusive()
            recover(folder)
            lock.shared()
        yield


def open_model(folder: str | Path, required: Sequence[str] = ()) -> dict[str, Any]:
    """recover + verify, under the read lock: the manifest of a complete, unmodified model folder."""
    with reading(folder):
        return verify(folder, required)


class ModelWriter:
    """Stage a model's files in FOLDER/.incoming, then `commit` them into FOLDER (module doc).

    Leaving the `with` block without commit (an exception) removes the staging folder; the
    previous model in FOLDER stays as it was. It holds the folder's write lock throughout (module
    doc; already held when a command took it first)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._locks = ExitStack()
        self._locks.enter_context(write_lock(self.folder))
        try:
            if (self.folder / COMMIT).is_dir():  # a killed writer's half-done commit (only writers make one)
                with FolderFlock(self.folder, exclusive=True):
                    recover(self.folder)
            self.dir = self.folder / INCOMING
            shutil.rmtree(self.dir, ignore_errors=True)  # left by a killed run: never half of a model
            self.dir.mkdir()
        except BaseException:
            self._locks.close()
            raise

    def __enter__(self) -> "ModelWriter":
        return self

    def __exit__(self, *exc) -> None:
        try:
            shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            self._locks.close()

    def commit(self, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
        """Seal the staged files with their manifest and move them into the folder; returns the manifest."""
        names = sorted(p.name for p in self.dir.iterdir() if p.is_file() and not p.name.endswith(".tmp"))
        manifest = manifest_for(self.dir, names, provenance)
        write_json(self.dir / MANIFEST, manifest)
        with FolderFlock(self.folder, exclusive=True):  # readers load the old model or the new one
            os.replace(self.dir, self.folder / COMMIT)  # from here on the new model is the folder's model
            _fsync_dir(self.folder)
            recover(self.folder)
        return manifest
