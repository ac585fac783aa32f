"""neural-v1/v2/v4/it, commitments and lamem-it on a synthetic BrainIO data set with planted signal."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lamem_fixture import build_lamem
from memscore.errors import DataError
from neural_fixture import build_neural, write_brainio

MODEL = "torchvision:resnet18"  # a plain name may be served by several model plugins
SIZE = 64
LAYERS = ["conv1", "layer1.0", "layer2.0", "layer3.0", "layer4.1", "avgpool"]
# a block hands on its reused ReLU's last output unmodified: asked for by block, scored under the ReLU's name
SCORED = ["conv1", "layer1.0.relu", "layer2.0.relu", "layer3.0.relu", "layer4.1.relu", "avgpool"]


@pytest.fixture(scope="module")
def neural(tmp_path_factory):
    from memscore.api import load_model

    model = load_model(MODEL, weights="none", seed=0)
    return build_neural(tmp_path_factory.mktemp("neural"), model, n_objects=8, per_object=16, n_sites=12,
                        clean=4, noise=1.5, size=SIZE)


def _bargs(fx, **kw):
    return {"dataset": str(fx["manifest"]), "image_size": SIZE, "layers": "+".join(LAYERS), **kw}


def test_commitments_planted_layers_ceiling_and_lamem_it(neural, tmp_path):
    """V1 commits an early layer, IT a late one; ceiling in (0, 1]; clean sites r > 0.9; lamem-it uses the
    IT commitment (computed and stored when missing) and equals lamem-pls at that layer, from cached activations."""
    from memscore.api import score

    lamem = build_lamem(tmp_path / "lamem", 60, image_size=48)
    it_args = _bargs(neural)
    mem = score(MODEL, "lamem-it", weights="none", data_root=lamem, progress=False, device="cpu",
                benchmark_args={"splits": "1,2", "image_size": SIZE,
                                **{f"neural_{k}": v for k, v in it_args.items()}})
    c = mem.meta["commitment"]
    assert c["from_store"] is False and c["region"] == "IT"

    it = score(MODEL, "neural-it", weights="none", progress=False, device="cpu", benchmark_args=it_args)
    assert it.meta.get("from_store") and it.meta["layer"] == c["layer"] == mem.meta["layer"]
    v1 = score(MODEL, "neural-v1", weights="none", progress=False, device="cpu", benchmark_args=_bargs(neural))
    order = [r["layer"] for r in v1.layers]
    assert order == SCORED
    assert [r["aliases"] for r in v1.layers][1:3] == [["layer1.0"], ["layer2.0"]]
    assert order.index(v1.meta["layer"]) <= 2, v1.layers  # planted at layer1.0 (layer2.0 is close behind)
    assert order.index(it.meta["layer"]) >= 4, it.layers  # layer4.1 / avgpool: the planted late layer
    for s in (v1, it):
        assert 0 < s.ceiling <= 1
        assert s.value == pytest.approx(s.raw ** 2 / s.ceiling)  # Brain-Score's r² / ceiling
        assert len(s.splits) == 10 and s.meta["n_stimuli"] == 128 and s.meta["n_sites"] == 12
        assert s.meta["time_bins"] == [[70, 120], [120, 170]]  # the 170-220 ms noise bin is left out
        clean = {x["site"]: x["r"] for x in s.meta["sites"] if x["site"] in neural["clean"]}
        assert len(clean) == 4 and min(clean.values()) > 0.9, clean
    assert v1.meta["penultimate_layer"] == "avgpool"

    # lamem-it is lamem-pls at the committed layer, read from the activation cache
    pls = score(MODEL, "lamem-pls", weights="none", data_root=lamem, progress=False, device="cpu",
                benchmark_args={"splits": "1,2", "image_size": SIZE, "layers": c["layer"]})
    assert pls.meta["timings"]["extract_s"] == 0 and pls.meta["timings"]["pca_fit_s"] == 0
    assert mem.value == pls.value and mem.layers == pls.layers and [r["layer"] for r in mem.layers] == [c["layer"]]

    from memscore_plugins.benchmarks.neural.commitments import find

    hit = find(MODEL, "it", weights="none", seed=0)
    assert hit is not None and hit.layer == c["layer"] and hit.from_store


def test_lamem_it_takes_each_data_set_by_name(neural, tmp_path):
    """`--data-root lamem=PATH --data-root <neural name>=PATH`: each data set by its name, the same numbers as
    the argument route; an unnamed LaMem root never stands in for the recordings, and the error says which
    NAME=PATH to give; a NAME no data set of the run has is one line listing the names it reads."""
    from click.testing import CliRunner

    from memscore.api import score
    from memscore.cli import main

    lamem = build_lamem(tmp_path / "lamem", 60, image_size=48)
    ident = json.loads(neural["manifest"].read_text())["identifier"]
    args = {"splits": "1,2", "image_size": SIZE, "neural_image_size": SIZE, "neural_layers": "layer3.0+avgpool"}
    kv = ",".join(f"{k}={v}" for k, v in args.items())
    r = CliRunner().invoke(main, ["score", "-m", MODEL, "-b", "lamem-it", "--weights", "none", "--device", "cpu",
                                  "--no-progress", "--format", "json", "--data-root", f"lamem={lamem}",
                                  "--data-root", f"{ident}={neural['manifest']}", "--benchmark-args", kv])
    assert r.exit_code == 0, r.output
    named = json.loads(r.stdout)
    by_arg = score(MODEL, "lamem-it", weights="none", data_root=lamem, progress=False, device="cpu",
                   benchmark_args={**args, "neural_dataset": str(neural["manifest"])})
    assert named["value"] == by_arg.value and named["meta"]["layer"] == by_arg.meta["layer"]
    assert named["meta"]["data"]["fingerprint"] == by_arg.meta["data"]["fingerprint"]

    for argv, says in (([f"{lamem}"], "--data-root majajhong2015=PATH"),
                       ([f"lamem={lamem}", f"bogus={tmp_path}"], "reads no data set called 'bogus'")):
        r = CliRunner().invoke(main, ["score", "-m", MODEL, "-b", "lamem-it", "--weights", "none",
                                      *[a for root in argv for a in ("--data-root", root)], "--benchmark-args", kv])
        lines = r.output.strip().splitlines()
        assert r.exit_code in (1, 2) and len(lines) == 1 and says in lines[0], r.output
    assert "lamem-it, lamem, neural-it, majajhong2015" in lines[0]


def test_metric_equals_plain_sklearn_scipy_reference():
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    import memscore
    from memscore.metrics import Fold, summarize
    from memscore_plugins.metrics.neural.predictivity import ceiling, splits

    rng = np.random.default_rng(3)
    n, p, m = 120, 40, 9
    X = rng.normal(size=(n, p))
    Y = X[:, :6] @ rng.normal(size=(6, m)) + rng.normal(size=(n, m))
    strata = np.repeat([f"o{i}" for i in range(6)], n // 6)
    # the metric contract, as the benchmark uses it: neural-pls by name on Brain-Score's splits
    res = summarize(memscore.load_metric("neural-pls")(X, Y, [Fold(tr, te) for tr, te in splits(n, strata)]))
    per_split = []
    for tr, te in StratifiedShuffleSplit(10, train_size=0.9, test_size=None, random_state=1).split(np.zeros(n), strata):
        pred = PLSRegression(25, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        per_split.append(np.median([pearsonr(pred[:, j], Y[te, j])[0] for j in range(m)]))
    assert res.value == pytest.approx(np.mean(per_split), abs=1e-4)
    assert res.error == pytest.approx(np.std(per_split) / np.sqrt(10), abs=1e-4)

    reps, n_stim = 8, 30
    truth = rng.normal(size=(n_stim, m))
    stim = np.repeat(np.arange(n_stim), reps)
    rep = np.tile(np.arange(reps), n_stim)
    trials = truth[stim] + 1.2 * rng.normal(size=(len(stim), m))
    ceil = ceiling(trials, stim, rep)
    ref = []
    for h1, _ in ShuffleSplit(10, train_size=0.5, test_size=None, random_state=1).split(np.zeros(reps)):
        a = np.array([trials[(stim == s) & np.isin(rep, h1)].mean(0) for s in range(n_stim)])
        b = np.array([trials[(stim == s) & ~np.isin(rep, h1)].mean(0) for s in range(n_stim)])
        r = np.array([pearsonr(a[:, j], b[:, j])[0] for j in range(m)])
        ref.append(np.median(2 * r / (1 + r)))
    assert ceil.value == pytest.approx(np.mean(ref), abs=1e-4)
    assert 0 < ceil.value <= 1


def test_brainscore_vision_gives_the_same_raw_score_and_ceiling(tmp_path):
    bs = pytest.importorskip("brainscore_vision", reason="brainscore_vision is not installed "
                             "(optional extra memscore[brainscore])")
    from brainscore_vision.benchmark_helpers.neural_common import average_repetition

    from memscore_plugins.benchmarks.neural.data import load_region
    import memscore
    from memscore.metrics import Fold, summarize
    from memscore_plugins.metrics.neural.predictivity import ceiling, splits
    from neural_fixture import brainscore_assembly

    X = np.random.default_rng(1).normal(size=(80, 30))
    data = load_region("IT", dataset=str(_small(tmp_path / "bs", n_stim=80, n_reps=8, n_sites=10, features=X)))
    ours = summarize(memscore.load_metric("neural-pls")(
        X, data.responses, [Fold(tr, te) for tr, te in splits(len(X), data.strata)]))
    ours_ceiling = ceiling(data.trials, data.trial_stimulus, data.trial_repetition)
    target_reps, source = brainscore_assembly(data, X)
    target = average_repetition(target_reps)
    raw = bs.load_metric("pls", crossvalidation_kwargs=dict(stratification_coord="object_name"))(source, target)
    ceil = bs.load_ceiling("internal_consistency")(target_reps)
    print(f"memscore raw {ours.value:.6f} ceiling {ours_ceiling.value:.6f}; "
          f"brainscore_vision raw {float(raw):.6f} ceiling {float(ceil):.6f}")
    assert float(raw) == pytest.approx(ours.value, abs=0.01)
    assert float(raw.attrs["error"]) == pytest.approx(ours.error, abs=0.01)
    assert float(ceil) == pytest.approx(ours_ceiling.value, abs=0.01)


def test_place_on_screen_gray_fraction_and_cache(tmp_path):
    from PIL import Image

    from memscore.stimuli import Stimuli
    from memscore_plugins.benchmarks.neural.screen import GRAY
    from memscore_plugins.benchmarks.neural.screen import place_image
    from memscore_plugins.benchmarks.neural.screen import place_on_screen

    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):  # no pure-gray pixel inside the image itself
        a = rng.integers(0, 100, (100, 100, 3), dtype=np.uint8)
        Image.fromarray(a, "RGB").save(tmp_path / f"im{i}.png")
        paths.append(tmp_path / f"im{i}.png")
    stimuli = Stimuli.from_paths(paths, ["a", "b"])
    placed = place_on_screen(stimuli, 4, 8, tmp_path / "cache", name="toy")  # FreemanZiemba in an 8° field
    img = np.asarray(Image.open(placed.paths[0]))
    assert img.shape == (200, 200, 3)
    gray = (img == GRAY).all(axis=2)
    assert gray.mean() == pytest.approx(0.75, abs=1e-9)
    assert not gray[50:150, 50:150].any() and gray[:50].all() and gray[:, 150:].all()  # centred
    mtime = placed.paths[0].stat().st_mtime_ns
    again = place_on_screen(stimuli, 4, 8, tmp_path / "cache", name="toy")
    assert again.paths == placed.paths and again.paths[0].stat().st_mtime_ns == mtime  # reused
    assert place_on_screen(stimuli, 8, 8, tmp_path / "cache") is stimuli  # same degrees: the originals
    crop = place_image(Image.open(paths[0]), 10, 8)  # larger than the field: centre crop
    assert crop.size == (80, 80)
    assert (np.asarray(crop) == np.asarray(Image.open(paths[0]))[10:90, 10:90]).all()


# -- bad input -------------------------------------------------------------------------------
def _small(root, *, reps=True, ids_in_csv=None, dims=("presentation", "neuroid", "time_bin"), n_stim=6,
           n_reps=3, n_sites=2, features=None):
    """A tiny BrainIO data set (n_stim stimuli x n_reps repetitions, IT sites) and its manifest.

    With ``features`` (n_stim x d), site responses are noisy linear readouts of them."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    ids = [f"s{i:03d}" for i in range(n_stim)]
    for s in ids:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "images" / f"{s}.png")
    listed = ids if ids_in_csv is None else ids_in_csv
    (root / "stim.csv").write_text("stimulus_id,filename,object_name\n" +
                                   "".join(f"{s},{s}.png,o{i % 2}\n" for i, s in enumerate(listed)))
    rng = np.random.default_rng(0)
    stim = np.repeat(np.arange(n_stim), n_reps)
    pres = {"stimulus_id": [ids[i] for i in stim], "object_name": [f"o{i % 2}" for i in stim]}
    if reps:
        pres["repetition"] = np.tile(np.arange(n_reps), n_stim)
    if features is None:
        data = rng.normal(size=(len(stim), n_sites, 1))
    else:
        mean = features @ rng.normal(size=(features.shape[1], n_sites))
        data = (mean[stim] + 8.0 * rng.normal(size=(len(stim), n_sites)))[..., None]
    write_brainio(root / "assy.nc", data, pres,
                  {"neuroid_id": [f"n{j}" for j in range(n_sites)], "region": ["IT"] * n_sites}, [(70, 170)])
    if dims != ("presentation", "neuroid", "time_bin"):
        import xarray as xr

        ds = xr.open_dataset(root / "assy.nc", engine="h5netcdf").load()
        ds = ds.rename_dims({a: b for a, b in zip(("presentation", "neuroid", "time_bin"), dims) if a != b})
        ds.close()
        (root / "assy.nc").unlink()
        ds.to_netcdf(root / "assy.nc", engine="h5netcdf")
    (root / "m.json").write_text(json.dumps({
        "assembly": "assy.nc", "stimulus_set": "stim.csv", "stimuli_dir": "images", "regions": ["IT"],
        "visual_degrees": 8, "time_window": [70, 170], "stratification": "object_name"}))
    return root / "m.json"


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_bad_input_is_one_clear_line(tmp_path):
    from memscore.benchmark import RunOptions
    from memscore_plugins.benchmarks.neural.benchmark import NeuralBenchmark
    from memscore_plugins.benchmarks.neural.data import load_region

    # no repetition coordinate: no ceiling -> the message names the fix (or the declared fallback)
    m = _small(tmp_path / "noreps", reps=False)
    with pytest.raises(DataError) as e:
        NeuralBenchmark(region="IT", dataset=str(m)).run(None, RunOptions(progress=False))
    assert "no 'repetition' coordinate" in _one_line(e) and "ceiling=none" in str(e.value)

    # stimulus ids missing from the stimulus set
    m = _small(tmp_path / "missing", ids_in_csv=["s000", "s001", "s002"])
    with pytest.raises(DataError) as e:
        load_region("IT", dataset=str(m))
    assert "3 stimulus ids" in _one_line(e) and "'s003'" in str(e.value)

    # wrong dims
    m = _small(tmp_path / "dims", dims=("trial", "neuroid", "time_bin"))
    with pytest.raises(DataError) as e:
        load_region("IT", dataset=str(m))
    assert "has dims (trial, neuroid, time_bin)" in _one_line(e)

    # a damaged file: SHA-1 mismatch against the manifest
    m = _small(tmp_path / "sha")
    d = json.loads(m.read_text())
    d["sha1"] = {"assy.nc": "0" * 40}
    m.write_text(json.dumps(d))
    with pytest.raises(DataError) as e:
        load_region("IT", dataset=str(m))
    assert "SHA-1" in _one_line(e) and "assy.nc" in str(e.value)

    # a region the data set does not have
    with pytest.raises(DataError) as e:
        load_region("V1", dataset=str(_small(tmp_path / "ok")))
    assert "no region V1" in _one_line(e)


def test_in_memory_multiindex_assembly_and_averaging(tmp_path):
    """brainscore_vision hands over assemblies with MultiIndexes: same result as the flat netCDF."""
    import pandas as pd

    from memscore_plugins.benchmarks.neural.data import DataSpec
    from memscore_plugins.benchmarks.neural.data import load_region
    from memscore_plugins.benchmarks.neural.data import read_assembly
    from memscore_plugins.benchmarks.neural.data import region_data

    m = _small(tmp_path / "mi")
    flat = load_region("IT", dataset=str(m))
    da = read_assembly(tmp_path / "mi" / "assy.nc").load()
    multi = da.set_index(presentation=["stimulus_id", "repetition", "object_name"],
                         neuroid=["neuroid_id", "region"], time_bin=["time_bin_start", "time_bin_end"])
    assert isinstance(multi.indexes["presentation"], pd.MultiIndex)
    spec = DataSpec.from_manifest(m)
    got = region_data(multi, "IT", spec, pd.read_csv(tmp_path / "mi" / "stim.csv"), tmp_path / "mi" / "images")
    np.testing.assert_allclose(got.responses, flat.responses)
    ref = da.squeeze("time_bin").groupby("stimulus_id").mean().transpose("stimulus_id", "neuroid")
    np.testing.assert_allclose(flat.responses, ref.values)
    assert list(flat.stimuli.ids) == sorted(flat.stimuli.ids) and flat.strata.tolist() == ["o0", "o1"] * 3


def test_data_fetch_and_check_official_layout(tmp_path, monkeypatch):
    """`memscore data fetch/check majajhong2015`: official file names, SHA-1 verified, zip unpacked."""
    import zipfile
    from dataclasses import replace

    from click.testing import CliRunner

    from memscore.cli import main
    from memscore_plugins.benchmarks.neural import data as neural_data
    from memscore_plugins.benchmarks.neural.data import MajajHong2015
    from memscore_plugins.benchmarks.neural.data import sha1_of

    m = _small(tmp_path / "src")
    spec = MajajHong2015.spec
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(tmp_path / "src" / "assy.nc", mirror / spec.assembly.name)
    shutil.copy(tmp_path / "src" / "stim.csv", mirror / spec.csv.name)
    with zipfile.ZipFile(mirror / spec.zip.name, "w") as z:
        for p in sorted((tmp_path / "src" / "images").iterdir()):
            z.write(p, p.name)
    # the test files stand in for the official ones: their SHA-1 replaces the registry's
    fake = replace(spec, regions=("IT",), assembly=replace(spec.assembly, sha1=sha1_of(mirror / spec.assembly.name)),
                   csv=replace(spec.csv, sha1=sha1_of(mirror / spec.csv.name)),
                   zip=replace(spec.zip, sha1=sha1_of(mirror / spec.zip.name)))
    monkeypatch.setattr(MajajHong2015, "spec", fake)
    monkeypatch.setitem(neural_data.DATASETS, "MajajHong2015.public", fake)
    dest = tmp_path / "data"
    r = CliRunner().invoke(main, ["data", "fetch", "majajhong2015", "--url", str(mirror), "--dest", str(dest)])
    assert r.exit_code == 0, r.output
    assert "sha1 ok" in r.output and "2 sites, 6 stimuli, 18 presentations, 3 repetitions" in r.output
    assert (dest / "stimulus_hvm-public" / "s000.png").is_file()
    r = CliRunner().invoke(main, ["data", "check", "majajhong2015", "--data-root", str(dest)])
    assert r.exit_code == 0 and "sha1 ok" in r.output, r.output
    data = neural_data.load_region("IT", data_root=dest)  # the default data set of IT, from --data-root
    assert len(data) == 6 and data.spec.visual_degrees == 8 and m.exists()

    (dest / spec.csv.name).write_text("stimulus_id,filename\n")  # damaged: check names the file and the fix
    r = CliRunner().invoke(main, ["data", "check", "majajhong2015", "--data-root", str(dest)])
    assert r.exit_code == 1 and "SHA-1" in r.output and "memscore data fetch majajhong2015" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_source_brainscore_reads_its_assembly_or_names_the_extra(tmp_path, monkeypatch):
    """source=brainscore: brainscore_vision's in-memory assembly (MultiIndexes, stimulus_set attr) gives the
    same data as the files; without the package, one line naming the extra."""
    import sys
    import types

    import pandas as pd

    from memscore_plugins.benchmarks.neural.data import load_region
    from memscore_plugins.benchmarks.neural.data import read_assembly

    m = _small(tmp_path / "bsrc", n_stim=40, n_reps=4, n_sites=3)
    flat = load_region("IT", dataset=str(m))
    monkeypatch.setitem(sys.modules, "brainscore_vision", None)  # not installed
    with pytest.raises(DataError) as e:
        load_region("IT", source="brainscore")
    assert "pip install 'memscore[brainscore]'" in _one_line(e)

    da = read_assembly(tmp_path / "bsrc" / "assy.nc").load()
    da = da.set_index(presentation=["stimulus_id", "repetition", "object_name"], neuroid=["neuroid_id", "region"],
                      time_bin=["time_bin_start", "time_bin_end"])
    stimulus_set = pd.read_csv(tmp_path / "bsrc" / "stim.csv")
    stimulus_set.attrs = {}
    paths = {s: tmp_path / "bsrc" / "images" / f for s, f in zip(stimulus_set.stimulus_id, stimulus_set.filename)}
    stimulus_set = type("StimulusSet", (pd.DataFrame,), {"_metadata": ["stimulus_paths"]})(stimulus_set)
    stimulus_set.stimulus_paths = paths
    da.attrs["stimulus_set"] = stimulus_set
    asked = []
    fake = types.SimpleNamespace(load_dataset=lambda ident: asked.append(ident) or da)
    monkeypatch.setitem(sys.modules, "brainscore_vision", fake)
    got = load_region("IT", source="brainscore")
    assert asked == ["MajajHong2015.public"]
    np.testing.assert_allclose(got.responses, flat.responses)
    assert got.stimuli.paths == flat.stimuli.paths and got.strata.tolist() == flat.strata.tolist()


def test_several_metrics_store_one_run_each_from_one_activation_pass(neural):
    """metric=pls,rsa,cka: three runs, keyed apart; the first computes the activations, the others read them;
    the pls run is the metric=pls run (the default, unchanged); rsa and cka are ceiled by their own split-half
    similarity."""
    from memscore.api import score
    from memscore.store import ResultStore

    args = _bargs(neural)
    runs = score(MODEL, "neural-it", weights="none", progress=False, device="cpu",
                 benchmark_args={**args, "metric": "pls,rsa,cka"})
    assert [r.meta["metric"] for r in runs] == ["pls", "rsa", "cka"]
    assert runs[0].meta["activation_passes"] >= 1 and all(r.meta["activation_passes"] == 0 for r in runs[1:])
    stored = ResultStore().query(MODEL, "neural-it")
    assert len({s.meta["run_id"] for s in stored}) == 3
    plain = score(MODEL, "neural-it", weights="none", progress=False, device="cpu", benchmark_args=args)
    assert plain.meta.get("from_store") and plain.value == runs[0].value and plain.meta["run_id"] == runs[0].meta["run_id"]
    for r in runs[1:]:
        assert r.ceiling is not None and 0 < r.ceiling <= 1 and r.value == pytest.approx(r.raw / r.ceiling)
        assert "metric" in r.meta["config"]["benchmark_args"] and r.meta["layer"] in SCORED


def test_the_committed_layer_keeps_its_items_and_a_bootstrap_ci(neural):
    """neural-it keeps the committed layer's per-item outputs (each fold's test stimuli x sites): they give the
    reported value, its bootstrap CI over each fold's test stimuli (memscore.stats, held equal to a plain loop in
    tests/test_stats.py), and `memscore compare` of a run with itself; the store's index keeps a stub and reads
    them back from the run file."""
    from click.testing import CliRunner

    from memscore.api import score
    from memscore.cli import main
    from memscore.items import is_stub
    from memscore.store import ResultStore

    args = {**_bargs(neural), "folds": 3, "layers": "layer4.1+avgpool"}
    s = score(MODEL, "neural-it", weights="none", progress=False, device="cpu", benchmark_args=args)
    assert s.ci[0] <= s.value <= s.ci[1] and s.ci[1] > s.ci[0] and s.meta["bootstrap"]["seed"] == 0
    store = ResultStore()
    stored = store.query(MODEL, "neural-it")[0]
    assert is_stub(stored.items) and not is_stub(s.items)
    items = store.items_of(stored)
    assert items.statistic == "median-pearson" and items.layer == s.meta["layer"] and items.ceiling == s.ceiling
    assert [len(g.ids) for g in items.groups] == [sp["n_test"] for sp in s.splits]  # each fold's test stimuli
    assert all(g.prediction.shape == (len(g.ids), s.meta["n_sites"]) for g in items.groups)
    assert items.point() == pytest.approx(s.value, rel=1e-4)  # float32-held predictions
    r = CliRunner().invoke(main, ["compare", MODEL, MODEL, "-b", "neural-it", "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    row = row[0] if isinstance(row, list) else row
    assert row["delta"] == 0 and row["p"] == 1
