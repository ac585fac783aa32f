"""Neural recordings in the BrainIO format: the two public Brain-Score data sets, read from local files.

**Assembly.** A BrainIO assembly is an ``xarray`` DataArray ``presentation × neuroid × time_bin`` whose
coordinates live in MultiIndexes (``presentation``: ``stimulus_id``, ``repetition``, ``object_name``, …;
``neuroid``: ``neuroid_id``, ``region``, …; ``time_bin``: ``time_bin_start``, ``time_bin_end``). netCDF
cannot hold a MultiIndex, so BrainIO's ``write_netcdf`` calls ``reset_index`` first: on disk every level
is a plain coordinate along its dimension and the dimensions themselves have no coordinate. The data
variable is ``data`` (compressed writes, ``to_dataset(name="data")``) or ``__xarray_dataarray_variable__``
(plain ``DataArray.to_netcdf``). Old assemblies name the stimulus ``image_id``; BrainIO's loader copies it
to ``stimulus_id`` and so do we. Old xarray wrote a plain dimension index as ``<dim>_``; it is ignored.

**Stimulus set.** A CSV with ``stimulus_id`` (or legacy ``image_id``) and ``filename`` plus metadata
columns, and the image files, relative to the folder the stimulus zip unpacks into. BrainIO merges the
CSV's columns into the assembly's presentations, so a coordinate such as ``object_name`` or
``texture_type`` may come from either; the assembly wins.

**Where the files are.** ``--data-root`` (or ``$MEMSCORE_HOME/data/<key>``) holds the official files under
their official names, flat or one folder per file as BrainIO's cache (``~/.brainio``) keeps them; so a
BrainIO cache folder works as it is. ``memscore data fetch majajhong2015`` downloads them, each checked
against the SHA-1 Brain-Score's data registry lists, and unpacks the stimulus zip.

A data set that is not built in is described by a small JSON manifest (see :meth:`DataSpec.from_manifest`).
Every problem a user can cause raises :class:`memscore.errors.DataError` with one line naming the file.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from memscore.errors import DataError
from memscore.stimuli import Stimuli
from memscore.metrics import mean_by

__all__ = ["FileSpec", "DataSpec", "DATASETS", "REGIONS", "RegionData", "NeuralDataset", "MajajHong2015",
           "FreemanZiemba2013", "read_assembly", "region_data", "load_region", "spec_for_region", "sha1_of"]

S3 = "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore/"


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set: its official name, where to download it, its SHA-1 (None: unknown)."""

    name: str
    url: str | None = None
    sha1: str | None = None


@dataclass(frozen=True)
class DataSpec:
    identifier: str  # Brain-Score's data identifier, e.g. "MajajHong2015.public"
    key: str  # memscore's data set name and default folder name
    assembly: FileSpec
    csv: FileSpec
    zip: FileSpec | None  # the stimulus images (unpacked into stimuli_dir)
    regions: tuple[str, ...]
    visual_degrees: float  # how large the stimuli were shown to the animals
    time_window: tuple[float, float]  # ms after onset averaged over
    stratification: str | None  # presentation coordinate the cross-validation stratifies by
    stimulus_set: str = ""
    stimuli_dir: str | None = None  # folder of the images, relative to the root (default: zip's stem)
    trials: int = 1
    description: str = ""
    citation: str = ""
    brainscore: str | None = None  # identifier for brainscore_vision.load_dataset
    root: Path | None = None  # manifests: the folder the manifest lies in

    @property
    def files(self) -> list[FileSpec]:
        return [f for f in (self.assembly, self.csv, self.zip) if f is not None]

    @property
    def images_folder(self) -> str:
        if self.stimuli_dir:
            return self.stimuli_dir
        return Path(self.zip.name).stem if self.zip else "images"

    @classmethod
    def from_manifest(cls, path: str | os.PathLike) -> "DataSpec":
        """A data set described by a JSON file (paths relative to it)::

            {"identifier": "my-data", "assembly": "assy.nc", "stimulus_set": "stimuli.csv",
             "stimuli_dir": "images",          # or "stimuli_zip": "images.zip"
             "regions": ["V4", "IT"], "visual_degrees": 8, "time_window": [70, 170],
             "stratification": "object_name", "sha1": {"assy.nc": "<hex>"}}
        """
        from memscore.images import path_kind

        path = Path(path).expanduser()
        kind = path_kind(path)
        if kind == "missing":
            raise DataError(f"data set manifest {path} does not exist; check the path (dataset=PATH.json, or "
                            f"`memscore data check PATH.json`)")
        if kind != "file":  # a folder, a FIFO or a device (which would block or never end) is never read
            raise DataError(f"data set manifest {path} is {kind}, not a JSON file; give the manifest's path")
        try:
            d = json.loads(path.read_text())
        except OSError as e:
            raise DataError(f"cannot read data set manifest {path} ({e.strerror or e}); "
                            f"check its permissions") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"data set manifest {path} is not valid JSON ({e}); fix the file") from None
        if not isinstance(d, dict):
            raise DataError(f"data set manifest {path} holds a JSON {type(d).__name__}, not an object of fields; "
                            f"see docs/neural.md for the fields")
        missing = [k for k in ("assembly", "stimulus_set", "regions", "visual_degrees") if k not in d]
        if missing:
            raise DataError(f"data set manifest {path} lacks {', '.join(missing)}; see docs/neural.md for the fields")
        _check_manifest(path, d)
        sha = d.get("sha1") or {}
        f = lambda name: FileSpec(name, None, sha.get(name)) if name else None  # noqa: E731
        window = d.get("time_window") or (-np.inf, np.inf)
        return cls(identifier=str(d.get("identifier") or path.stem), key=str(d.get("identifier") or path.stem),
                   assembly=f(d["assembly"]), csv=f(d["stimulus_set"]), zip=f(d.get("stimuli_zip")),
                   regions=tuple(d["regions"]), visual_degrees=float(d["visual_degrees"]),
                   time_window=(float(window[0]), float(window[1])),
                   stratification=d.get("stratification", "object_name"), stimuli_dir=d.get("stimuli_dir"),
                   trials=int(d.get("trials", 1)), description=d.get("description", ""), root=path.parent)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


#: manifest field -> (what it must be, test); the optional ones may also be null
_MANIFEST_FIELDS: dict[str, tuple[str, Any]] = {
    "identifier": ("a string", _text),
    "assembly": ("a file name (string)", _text),
    "stimulus_set": ("a file name (string)", _text),
    "stimuli_zip": ("a file name (string)", _text),
    "stimuli_dir": ("a folder name (string)", _text),
    "regions": ("a non-empty list of region names (strings), e.g. [\"V4\", \"IT\"]",
                lambda v: isinstance(v, list) and bool(v) and all(_text(r) for r in v)),
    "visual_degrees": ("a number of degrees > 0 (e.g. 8)", lambda v: _number(v) and v > 0),
    "time_window": ("a list [start, end] of two numbers (ms) with start < end, e.g. [70, 170]",
                    lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and v[0] < v[1]),
    "stratification": ("a coordinate name (string)", _text),
    "trials": ("a whole number >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "description": ("a string", lambda v: isinstance(v, str)),
    "sha1": ("an object {file name: SHA-1 hex string}",
             lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
}
_REQUIRED = ("assembly", "stimulus_set", "regions", "visual_degrees")


def _check_manifest(path: Path, d: dict) -> None:
    """One line naming the manifest, the field and what it must be, for the first field of the wrong type or
    out of range (read before any data file is opened)."""
    from memscore.images import shorten

    for name, (want, ok) in _MANIFEST_FIELDS.items():
        if name not in d or (d[name] is None and name not in _REQUIRED):
            continue
        if not ok(d[name]):
            got = shorten(json.dumps(d[name]), 60)
            raise DataError(f"data set manifest {path}: field {name!r} must be {want}, not {got}; fix the file")


DATASETS: dict[str, DataSpec] = {
    "MajajHong2015.public": DataSpec(
        identifier="MajajHong2015.public", key="majajhong2015",
        assembly=FileSpec("assy_dicarlo_MajajHong2015_public.nc", S3 + "assy_dicarlo_MajajHong2015_public.nc",
                          "13d28ca0ce88ee550b54db3004374ae19096e9b9"),
        stimulus_set="hvm-public",
        csv=FileSpec("stimulus_hvm-public.csv", S3 + "stimulus_hvm-public.csv",
                     "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"),
        zip=FileSpec("stimulus_hvm-public.zip", S3 + "stimulus_hvm-public.zip",
                     "8aa44e038d7b551efa8077467622f9d48d72e473"),
        regions=("V4", "IT"), visual_degrees=8, time_window=(70, 170), stratification="object_name", trials=50,
        description="Majaj, Hong et al. 2015 (DiCarlo lab), public half: macaque V4 and IT multi-unit sites, "
                    "HvM object images (Brain-Score MajajHong2015.public)",
        citation="Majaj, Hong, Solomon & DiCarlo, J. Neurosci. 35(39):13402 (2015)",
        brainscore="MajajHong2015.public"),
    "FreemanZiemba2013.public": DataSpec(
        identifier="FreemanZiemba2013.public", key="freemanziemba2013",
        assembly=FileSpec("assy_movshon_FreemanZiemba2013_public.nc",
                          S3 + "assy_movshon_FreemanZiemba2013_public.nc?versionId=W2vx7jdh9utZdVumHHarXa4L1zOrA8Fd",
                          "761c08f796db4e342555cdb60eef23a4f19ead43"),
        stimulus_set="FreemanZiemba2013.aperture-public",
        csv=FileSpec("stimulus_FreemanZiemba2013_aperture-public.csv",
                     S3 + "stimulus_FreemanZiemba2013_aperture-public.csv",
                     "194c9b301a4e3e9cff02481d4c19b39331d52660"),
        zip=FileSpec("stimulus_FreemanZiemba2013_aperture-public.zip",
                     S3 + "stimulus_FreemanZiemba2013_aperture-public.zip",
                     "3a6fec1fc28c212882d6833e267ea8654d289611"),
        regions=("V1", "V2"), visual_degrees=4, time_window=(50, 200), stratification="texture_type", trials=20,
        description="Freeman, Ziemba et al. 2013 (Movshon lab), public part: macaque V1 and V2 single units, "
                    "textures and spectrally matched noise in an aperture (Brain-Score FreemanZiemba2013.public)",
        citation="Freeman, Ziemba, Heeger, Simoncelli & Movshon, Nat. Neurosci. 16(7):974 (2013)",
        brainscore="FreemanZiemba2013.public"),
}

#: region -> the public data set Brain-Score scores it on
REGIONS = {"V1": "FreemanZiemba2013.public", "V2": "FreemanZiemba2013.public",
           "V4": "MajajHong2015.public", "IT": "MajajHong2015.public"}


def spec_for_region(region: str) -> DataSpec:
    return DATASETS[REGIONS[region.upper()]]


def manifest_identifier(path: str | os.PathLike) -> str:
    """The identifier a manifest gives itself (its file name's stem when it gives none or cannot be read:
    reading it properly, with one-line errors, is :meth:`DataSpec.from_manifest`'s job)."""
    path = Path(path).expanduser()
    try:
        d = json.loads(path.read_text())
        ident = d.get("identifier") if isinstance(d, dict) else None
    except (OSError, ValueError):
        ident = None
    return ident if isinstance(ident, str) and ident else path.stem


# ---------------------------------------------------------------------------------------------
# checksums
# ---------------------------------------------------------------------------------------------
def sha1_of(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


_VERIFIED = ".memscore-sha1.json"


def verify(path: Path, sha1: str | None, *, fix: str) -> bool:
    """Check ``path`` against ``sha1`` once per (size, mtime); raise DataError on a mismatch."""
    if not sha1:
        return False
    st = path.stat()
    stamp_file = path.parent / _VERIFIED
    try:
        stamps = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamps = {}
    stamp = [st.st_size, st.st_mtime_ns, sha1]
    if stamps.get(path.name) == stamp:
        return True
    got = sha1_of(path)
    if got != sha1.lower():
        raise DataError(f"{path} has SHA-1 {got}, expected {sha1}: the file is damaged or another version; {fix}")
    stamps[path.name] = stamp
    try:
        tmp = stamp_file.with_name(stamp_file.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(stamps))
        os.replace(tmp, stamp_file)
    except OSError:
        pass  # a read-only data folder: verify again next time
    return True


# ---------------------------------------------------------------------------------------------
# reading an assembly
# ---------------------------------------------------------------------------------------------
def read_assembly(path: str | os.PathLike):
    """Open a BrainIO netCDF assembly lazily as a flat-coordinate ``xarray.DataArray``."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise DataError(f"assembly file {path} does not exist; fetch the data set or fix --data-root")
    ds = None
    errors = []
    for engine in ("h5netcdf", None):
        try:
            ds = xr.open_dataset(path, engine=engine)
            break
        except Exception as e:  # noqa: BLE001 - any reader failure is reported below
            errors.append(f"{engine or 'default'}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if ds is None:
        raise DataError(f"{path} is not a readable netCDF assembly ({'; '.join(errors)}); re-download it")
    names = list(ds.data_vars)
    var = next((n for n in ("data", "__xarray_dataarray_variable__") if n in names), None)
    if var is None:
        if len(names) != 1:
            raise DataError(f"{path} holds {len(names)} data variables ({', '.join(names[:5])}); a BrainIO "
                            f"assembly holds one ('data')")
        var = names[0]
    return ds[var]


def _flat(da):
    """Flatten MultiIndexes (in-memory BrainIO assemblies) into plain coordinates, as write_netcdf does."""
    if da.indexes:
        da = da.reset_index(list(da.indexes))
    drop = [c for c in da.coords if c.endswith("_") and c[:-1] in da.dims]  # old xarray's "<dim>_"
    return da.drop_vars(drop) if drop else da


def _coord(da, name: str, dim: str):
    c = da.coords.get(name)
    if c is None or c.dims != (dim,):
        return None
    return np.asarray(c.values)


@dataclass
class RegionData:
    """One region of an assembly, ready for the metric; stimuli are sorted by ``stimulus_id``."""

    spec: DataSpec
    region: str
    stimuli: Stimuli  # the original images, one per stimulus (sorted ids)
    responses: np.ndarray  # (n_stimuli, n_sites) float64: mean over the time window and repetitions
    site_ids: list[str]
    strata: np.ndarray | None  # (n_stimuli,) stratification labels, or None
    trials: np.ndarray  # (n_presentations, n_sites) float64, time-averaged single presentations
    trial_stimulus: np.ndarray  # (n_presentations,) row in ``stimuli``
    trial_repetition: np.ndarray | None  # (n_presentations,) repetition labels; None: not in the assembly
    time_bins: list[tuple[float, float]]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stimuli)

    def subset(self, n: int) -> "RegionData":
        """The first ``n`` stimuli (smoke runs)."""
        keep = self.trial_stimulus < n
        return replace(self, stimuli=self.stimuli.subset(range(n)), responses=self.responses[:n],
                       strata=None if self.strata is None else self.strata[:n], trials=self.trials[keep],
                       trial_stimulus=self.trial_stimulus[keep],
                       trial_repetition=None if self.trial_repetition is None else self.trial_repetition[keep])


def _time_indices(starts, ends, window, where: str) -> list[int]:
    if starts is None or ends is None:
        raise DataError(f"{where}: the time_bin dimension lacks time_bin_start/time_bin_end coordinates; "
                        f"a BrainIO assembly has both")
    if len(starts) == 1:  # a single, pre-averaged bin (MajajHong2015.public: 70-170 ms) is used as it is
        return [0]
    lo, hi = window
    idx = [i for i, (s, e) in enumerate(zip(starts, ends)) if s >= lo and e <= hi]
    if not idx:
        raise DataError(f"{where}: no time bin lies inside the {lo:g}-{hi:g} ms window (bins span "
                        f"{min(starts):g}-{max(ends):g} ms); pass time_window=<lo>-<hi>")
    return idx


def stimulus_rows(table, ids: list[str], where: str, images_dir: Path | None, *, stimulus_csv: Path | None = None,
                  stimulus_paths: dict[str, Path] | None = None,
                  fix: str = "unpack the stimulus zip there or re-fetch the data set") -> tuple[Any, list[Path]]:
    """The stimulus set's rows for ``ids`` (``table``: a DataFrame with ``stimulus_id`` or ``image_id``) and their
    image paths — ``stimulus_paths[id]`` when given, else ``images_dir / filename`` — each checked: every id
    listed, every file name inside the folder, every image present (one line each, ``fix`` saying what to do)."""
    from memscore.images import path_kind, shorten, unsafe_relpath

    id_col = "stimulus_id" if "stimulus_id" in table.columns else "image_id" if "image_id" in table.columns else None
    if id_col is None:
        raise DataError(f"stimulus set of {where} has no stimulus_id column (columns: "
                        f"{', '.join(map(str, table.columns[:8]))})")
    table = table.drop_duplicates(id_col)
    table.index = table[id_col].astype(str)
    missing = [s for s in ids if s not in table.index]
    if missing:
        raise DataError(f"{len(missing)} stimulus ids of {where} (e.g. {missing[0]!r}) are not in its stimulus "
                        f"set; use the stimulus set that belongs to this assembly")
    rows = table.loc[ids]
    if stimulus_paths is not None:
        paths = [Path(stimulus_paths[s]) for s in ids]
    else:
        if "filename" not in rows.columns:
            raise DataError(f"stimulus set of {where} has no 'filename' column; a BrainIO stimulus CSV has one")
        for sid, f in zip(ids, rows["filename"]):  # file names stay inside the stimulus folder
            why = unsafe_relpath(str(f))
            if why:
                raise DataError(f"stimulus set {stimulus_csv or f'of {where}'}: filename {shorten(repr(str(f)))} of "
                                f"stimulus {shorten(sid)} escapes {images_dir} ({why}); file names must be relative "
                                f"paths inside the stimulus folder — fix the CSV or re-fetch the data set")
        paths = [Path(images_dir) / str(f) for f in rows["filename"]]
    absent = [(p, k) for p in paths if (k := path_kind(p)) != "file"]
    if absent:
        listed = f" listed in {stimulus_csv}" if stimulus_csv else ""
        raise DataError(f"{len(absent)} of {len(paths)} stimulus images{listed} are missing or not image files "
                        f"(e.g. {absent[0][0]}: {absent[0][1]}); {fix}")
    return rows, paths


def region_data(da, region: str, spec: DataSpec, table, images_dir: Path | None, *, where: str = "assembly",
                time_window: tuple[float, float] | None = None, stratification: str | None = "default",
                stimulus_paths: dict[str, Path] | None = None, stimulus_csv: Path | None = None) -> RegionData:
    """Select ``region``, average the time window and repetitions, join the stimulus set.

    ``table`` is the stimulus set as a pandas DataFrame; image paths come from ``stimulus_paths`` when given
    (brainscore_vision's StimulusSet) else from ``images_dir / filename``.
    """
    da = _flat(da)
    dims = tuple(da.dims)
    if "presentation" not in dims or "neuroid" not in dims or not set(dims) <= {"presentation", "neuroid", "time_bin"}:
        raise DataError(f"{where} has dims ({', '.join(dims)}); a neural assembly is presentation × neuroid "
                        f"[× time_bin]")
    sids = _coord(da, "stimulus_id", "presentation")
    if sids is None:
        sids = _coord(da, "image_id", "presentation")
    if sids is None:
        raise DataError(f"{where} has no stimulus_id (or image_id) coordinate on presentation; it is not a "
                        f"BrainIO neural assembly")
    regions = _coord(da, "region", "neuroid")
    if regions is None:
        raise DataError(f"{where} has no 'region' coordinate on neuroid; cannot select {region}")
    regions = np.array([str(r) for r in regions])
    sel = np.flatnonzero(np.char.upper(regions) == region.upper())
    if not len(sel):
        raise DataError(f"{where} has no {region} sites (regions: {', '.join(sorted(set(regions)))})")
    nids = _coord(da, "neuroid_id", "neuroid")
    site_ids = [str(x) for x in (nids[sel] if nids is not None else sel)]

    window = time_window or spec.time_window
    bins: list[tuple[float, float]] = []
    sub = da.isel(neuroid=sel)
    if "time_bin" in dims:
        starts, ends = _coord(da, "time_bin_start", "time_bin"), _coord(da, "time_bin_end", "time_bin")
        tidx = _time_indices(starts, ends, window, where)
        bins = [(float(starts[i]), float(ends[i])) for i in tidx]
        sub = sub.isel(time_bin=tidx).transpose("presentation", "neuroid", "time_bin")
        values = np.asarray(sub.values, dtype=np.float64).mean(axis=2)
    else:
        values = np.asarray(sub.transpose("presentation", "neuroid").values, dtype=np.float64)

    sids = np.array([str(s) for s in sids])
    uniq, inverse = np.unique(sids, return_inverse=True)
    uniq = [str(u) for u in uniq]
    reps = _coord(da, "repetition", "presentation")

    # stimulus set
    rows, paths = stimulus_rows(table, uniq, where, images_dir, stimulus_csv=stimulus_csv,
                                stimulus_paths=stimulus_paths)

    strat = spec.stratification if stratification == "default" else stratification
    strata = None
    if strat:
        col = _coord(da, strat, "presentation")
        if col is not None:
            first = np.zeros(len(uniq), dtype=np.int64)
            first[inverse[::-1]] = np.arange(len(sids))[::-1]
            strata = np.array([str(x) for x in col[first]])
        elif strat in rows.columns:
            strata = np.array([str(x) for x in rows[strat]])
        else:
            raise DataError(f"{where} has no {strat!r} coordinate to stratify the cross-validation by (nor "
                            f"its stimulus set); pass stratification=none or another coordinate")

    responses = mean_by(values, inverse, len(uniq))
    return RegionData(
        spec=spec, region=region.upper(), stimuli=Stimuli.from_paths(paths, list(uniq)), responses=responses,
        site_ids=site_ids, strata=strata, trials=values, trial_stimulus=inverse.astype(np.int64),
        trial_repetition=None if reps is None else np.asarray(reps), time_bins=bins, source=where,
        meta={"stratification": strat, "time_window": list(window), "n_presentations": int(len(sids))},
    )


# ---------------------------------------------------------------------------------------------
# a data set on disk
# ---------------------------------------------------------------------------------------------
class NeuralDataset:
    """A BrainIO data set in a local folder (built-in: :class:`MajajHong2015`, :class:`FreemanZiemba2013`)."""

    spec: DataSpec

    def __init__(self, root: str | os.PathLike | None = None, spec: DataSpec | None = None):
        if spec is not None:
            self.spec = spec
        from memscore import paths

        if root is not None:
            self.root = Path(root).expanduser()
        elif self.spec.root is not None:
            self.root = self.spec.root
        else:
            env = os.environ.get(f"MEMSCORE_{self.spec.key.upper()}")
            self.root = Path(env).expanduser() if env else paths.data_dir() / self.spec.key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    @classmethod
    def from_manifest(cls, path: str | os.PathLike) -> "NeuralDataset":
        """The data set a JSON manifest describes (its files relative to the manifest), for ``memscore data
        check MANIFEST.json``."""
        spec = DataSpec.from_manifest(path)
        return NeuralDataset(spec.root, spec=spec)

    @property
    def _fix(self) -> str:
        if self.spec.assembly.url:
            return f"re-fetch it (`memscore data fetch {self.spec.key}`) or fix --data-root"
        return "fix the file or the manifest"

    def find(self, f: FileSpec) -> Path | None:
        """``root/name`` or BrainIO's cache layout ``root/<stem>/name``."""
        for p in (self.root / f.name, self.root / Path(f.name).stem / f.name):
            if p.is_file():
                return p
        return None

    def path(self, f: FileSpec) -> Path:
        p = self.find(f)
        if p is None:
            raise DataError(f"{self.spec.identifier}: {f.name} is not in {self.root}; "
                            + (f"run `memscore data fetch {self.spec.key}` or give the folder that holds it as "
                               f"--data-root {self.spec.key}=PATH" if f.url else "fix the manifest or the folder"))
        return p

    def images_dir(self, csv_path: Path) -> Path:
        """The folder the CSV's file names are relative to; unpacks the stimulus zip on first use."""
        folder = self.root / self.spec.images_folder
        if folder.is_dir():
            return folder
        if self.spec.zip is not None:
            z = self.find(self.spec.zip)
            if z is not None:
                verify(z, self.spec.zip.sha1, fix=self._fix)
                from memscore.download import unpack

                staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
                unpack(z, staging)
                inner = [p for p in staging.iterdir()]
                # a zip holding one folder (rather than the images) is unwrapped
                src = inner[0] if len(inner) == 1 and inner[0].is_dir() else staging
                os.replace(src, folder)
                if staging.exists():
                    import shutil

                    shutil.rmtree(staging, ignore_errors=True)
                return folder
        return csv_path.parent  # BrainIO's own cache: images unpacked beside the CSV

    def stimulus_table(self):
        import pandas as pd

        csv = self.path(self.spec.csv)
        verify(csv, self.spec.csv.sha1, fix=self._fix)
        try:
            return pd.read_csv(csv), csv
        except Exception as e:  # noqa: BLE001
            raise DataError(f"stimulus set {csv} is not a readable CSV ({type(e).__name__}: {e}); "
                            f"{self._fix}") from None

    def assembly(self):
        path = self.path(self.spec.assembly)
        verify(path, self.spec.assembly.sha1, fix=self._fix)
        return read_assembly(path), path

    def load(self, region: str, **kwargs) -> RegionData:
        """``region`` as the metric needs it. A process reading the same unchanged files again (a sweep plans,
        scores, and commits through neural-it) gets a copy of what it read before, not a second NetCDF read."""
        region = region.upper()
        if region not in self.spec.regions:
            raise DataError(f"{self.spec.identifier} has no region {region} (it has {', '.join(self.spec.regions)})")
        files = [self.path(self.spec.assembly), self.path(self.spec.csv)]
        key = (repr(self.spec), region, repr(sorted(kwargs.items())),
               *((str(f.resolve()), *_stamp(f)) for f in files))
        if key not in _LOADED:
            if len(_LOADED) >= 2:  # an assembly can be hundreds of MB: keep the last two
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = self._load(region, **kwargs)
        return copy.deepcopy(_LOADED[key])

    def _load(self, region: str, **kwargs) -> RegionData:
        da, path = self.assembly()
        table, csv = self.stimulus_table()
        try:
            return region_data(da, region, self.spec, table, self.images_dir(csv), where=str(path),
                               stimulus_csv=csv, **kwargs)
        finally:
            da.close()

    # -- memscore data check / fetch ---------------------------------------------------------
    def check(self, *, decode: bool = False, **_: Any) -> dict[str, Any]:
        files = {}
        for f in self.spec.files:
            p = self.find(f)
            if p is None and f is self.spec.zip and (self.root / self.spec.images_folder).is_dir():
                files[f.name] = "not needed (images unpacked)"
                continue
            if p is None:
                self.path(f)  # the one-line error: fetch a built-in data set, fix a manifest's folder
            files[f.name] = "sha1 ok" if verify(p, f.sha1, fix=self._fix) else "present (no checksum known)"
        report: dict[str, Any] = {"root": str(self.root), "data set": self.spec.identifier, "files": files}
        regions = {}
        for region in self.spec.regions:
            rd = self.load(region)
            reps = "none" if rd.trial_repetition is None else len(np.unique(rd.trial_repetition))
            regions[region] = (f"{len(rd.site_ids)} sites, {len(rd)} stimuli, {len(rd.trials)} presentations, "
                               f"{reps} repetitions, time bins {_bins(rd.time_bins)}")
        report["regions"] = regions
        if decode:
            from memscore.images import probe_image

            bad = [str(p) for p in rd.stimuli.paths if probe_image(p)]
            report["undecodable images"] = len(bad)
            if bad:
                raise DataError(f"{len(bad)} stimulus images cannot be decoded (e.g. {bad[0]}); {self._fix}")
        return report

    @classmethod
    def fetch(cls, url: str | None = None, dest: str | os.PathLike | None = None, *, sha256: str | None = None,
              progress: bool = True, **_: Any) -> dict[str, Any]:
        """Download the official files (or from ``url``, a folder/base URL holding the same file names),
        verify their SHA-1, unpack the stimulus zip, check the data set."""
        from memscore.download import download

        if sha256:
            raise DataError(f"{cls.spec.key}: the SHA-1 of each file is built in (Brain-Score's registry); "
                            f"--sha256 does not apply to this multi-file data set")
        ds = cls(dest)
        ds.root.mkdir(parents=True, exist_ok=True)
        for f in ds.spec.files:
            if ds.find(f) is not None:
                continue
            src = f.url if not url else _join(url, f.name)
            target = ds.root / f.name
            download(src, target, progress=progress)
            try:
                verify(target, f.sha1, fix="download it again")
            except DataError:
                os.replace(target, target.with_name(target.name + ".bad"))
                raise
        return ds.check()


def _join(base: str, name: str) -> str:
    if "://" in base:
        return base.rstrip("/") + "/" + name
    return str(Path(base).expanduser() / name)


def _bins(bins: Sequence[tuple[float, float]]) -> str:
    if not bins:
        return "none"
    if len(bins) == 1:
        return f"{bins[0][0]:g}-{bins[0][1]:g} ms"
    return f"{len(bins)} bins {bins[0][0]:g}-{bins[-1][1]:g} ms"


class MajajHong2015(NeuralDataset):
    spec = DATASETS["MajajHong2015.public"]


#: the last regions read, by files (path, size, mtime, inode, ctime), region and arguments
_LOADED: dict[tuple, RegionData] = {}


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class FreemanZiemba2013(NeuralDataset):
    spec = DATASETS["FreemanZiemba2013.public"]


# ---------------------------------------------------------------------------------------------
# entry points used by the benchmark
# ---------------------------------------------------------------------------------------------
def load_region(region: str, *, data_root: str | os.PathLike | None = None, dataset: str | None = None,
                source: str = "local", **kwargs) -> RegionData:
    """Load ``region`` from the built-in public data set (or a manifest ``dataset=PATH.json``)."""
    region = region.upper()
    if source == "brainscore":
        return load_region_brainscore(region, dataset=dataset, **kwargs)
    if source != "local":
        raise DataError(f"source={source!r}: use source=local (BrainIO files) or source=brainscore")
    if dataset and (dataset.endswith(".json") or Path(dataset).expanduser().is_file()):
        spec = DataSpec.from_manifest(dataset)  # its files are relative to it, whatever --data-root says
        return NeuralDataset(spec.root, spec=spec).load(region, **kwargs)
    spec = DATASETS.get(dataset) if dataset else spec_for_region(region)
    if spec is None:
        known = ", ".join(DATASETS)
        raise DataError(f"dataset={dataset!r} is unknown; use one of {known} or a manifest .json")
    return NeuralDataset(data_root, spec=spec).load(region, **kwargs)


def load_region_brainscore(region: str, dataset: str | None = None, **kwargs) -> RegionData:
    """The same data through ``brainscore_vision.load_dataset`` (optional extra ``memscore[brainscore]``)."""
    try:
        import brainscore_vision
    except ImportError:
        raise DataError("source=brainscore needs brainscore_vision: pip install 'memscore[brainscore]' "
                        "(or use source=local with the BrainIO files)") from None
    spec = DATASETS.get(dataset) if dataset else spec_for_region(region)
    if spec is None or not spec.brainscore:
        raise DataError(f"dataset={dataset!r} has no brainscore_vision identifier")
    assembly = brainscore_vision.load_dataset(spec.brainscore)
    stimulus_set = assembly.attrs.get("stimulus_set")
    if stimulus_set is None:
        raise DataError(f"brainscore_vision's {spec.brainscore} came without its stimulus set")
    import pandas as pd

    table = pd.DataFrame(stimulus_set)
    paths = {str(k): Path(v) for k, v in stimulus_set.stimulus_paths.items()}
    return region_data(assembly, region, spec, table, None, where=f"brainscore_vision {spec.brainscore}",
                       stimulus_paths=paths, **kwargs)
