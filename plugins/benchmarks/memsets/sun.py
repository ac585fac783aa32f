"""The SUN memorability set (Isola, Xiao, Torralba & Oliva, CVPR 2011: 2,222 scene images from the SUN database,
each scored by the fraction of participants who recognised its repeat) as AMNet (Fajtl et al., CVPR 2018)
re-packed it in LaMem's format, and read by LaMem's own reader (:class:`~memscore_plugins.benchmarks.lamem.data.LaMem`,
under this set's name, number of splits and remedies).

Layout (``SUN_memorability.zip`` of https://github.com/ok1zjf/AMNet, ``datasets/sun_memorability_url.txt``;
AMNet's ``main.py`` reads ``<root>/images`` and ``<root>/splits``, ``lamem2.py`` a line as
``<image file> <score>``)::

    <root>/images/<image file>
    <root>/splits/train_{1..25}.txt, test_{1..25}.txt      # "<image file> <score>" per line, no header
    <root>/splits/val_{k}.txt                              # optional: read when it is there

Confirmed from AMNet's README and code: the 25 train/test splits ("the SUN on 25 train/test splits") and that
**the set has no validation split** (AMNet validates on ``test_k``), so a ``val_k.txt`` is optional here and
``select=val`` needs one. As in LaMem, each split k is a random halving of images and participants (Isola et al.
2011), so an image's score differs between split files and split k's targets come from split k's files only.
Assumed (not seen in the archive): 1,111 train / 1,111 test images per split (Isola et al.'s halves; a copy with
other sizes is read all the same and reported with ``official_sizes: no``).
"""
from __future__ import annotations

from memscore_plugins.benchmarks.lamem.data import LaMem

__all__ = ["SunMemorability", "SUN_SPLITS"]

SUN_SPLITS = 25
_AMNET = "https://github.com/ok1zjf/AMNet"


class SunMemorability(LaMem):
    """SUN memorability in AMNet's LaMem-format copy: ``<root>/images`` and ``<root>/splits`` (25 splits, train
    and test; val when present)."""

    name = "sun-memorability"
    title = "SUN memorability"
    env_var = "MEMSCORE_SUN_MEMORABILITY"
    required_parts = ("train", "test")
    official_splits = SUN_SPLITS
    official_sizes = {"train": 1111, "test": 1111}
    n_images = 2222
    refetch = f"re-download AMNet's SUN_memorability.zip ({_AMNET}, datasets/sun_memorability_url.txt) and unpack it"
    point = ("point --data-root sun-memorability=PATH (or MEMSCORE_SUN_MEMORABILITY) at the folder that holds "
             "images/ and splits/")
    point_complete = "point --data-root sun-memorability=PATH at a complete copy"
    obtain = f"download and unpack AMNet's SUN_memorability.zip ({_AMNET})"
    # No URL memscore can download: AMNet shares the archive on Google Drive (behind a confirmation page), so
    # `memscore data fetch sun-memorability` needs --url (the downloaded zip's path). It unpacks to images/ and splits/.
    default_url = None
    archive_source = (f"download AMNet's SUN_memorability.zip (its Google Drive link is in "
                      f"datasets/sun_memorability_url.txt of {_AMNET})")

    def has_val(self, splits) -> bool:
        """Whether every split in ``splits`` has a ``val_k.txt`` (AMNet's copy has none)."""
        return all("val" in self.parts_of(k) for k in splits)
