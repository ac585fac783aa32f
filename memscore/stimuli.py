"""A stimulus set: ordered image files with a content digest that keys caches."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Stimuli:
    ids: tuple[str, ...]
    paths: tuple[Path, ...]

    @classmethod
    def from_paths(cls, paths: Sequence[Path | str], ids: Sequence[str] | None = None) -> "Stimuli":
        paths = tuple(Path(p) for p in paths)
        return cls(tuple(ids) if ids is not None else tuple(p.name for p in paths), paths)

    @classmethod
    def from_folder(cls, folder: Path | str, limit: int | None = None) -> "Stimuli":
        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit:
            files = files[:limit]
        return cls.from_paths(files, [str(p.relative_to(folder)) for p in files])

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: Sequence[int]) -> "Stimuli":
        return Stimuli(tuple(self.ids[i] for i in index), tuple(self.paths[i] for i in index))

    def digest(self) -> str:
        """Content fingerprint: each id with the SHA-1 of its file's bytes (see :mod:`memscore.fingerprint`).

        A replaced image changes it whatever its size and time stamps; the same images at another path
        give the same digest. Computed once per object.
        """
        return self._digest

    @cached_property
    def _digest(self) -> str:
        from .fingerprint import files_digest

        return files_digest(self.ids, self.paths)


def reference_set(stimuli: Stimuli, folder: str | Path | None = None, size: int = 1000) -> Stimuli:
    """The fixed PCA reference set: the first ``size`` images of ``folder`` (sorted), or else ``size``
    stimuli drawn with a fixed seed (all of them when there are fewer)."""
    if folder:
        ref = Stimuli.from_folder(folder, limit=size)
        if len(ref) == 0:
            from .errors import OptionError

            raise OptionError(f"reference={folder}: no images found in that folder")
        return ref
    if len(stimuli) <= size:
        return stimuli
    import numpy as np

    pick = np.random.default_rng(0).choice(len(stimuli), size, replace=False)
    return stimuli.subset(sorted(pick.tolist()))
