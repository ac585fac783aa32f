"""Same images, two measures: `things-memorability-pls shared_with=MANIFEST` scores each split's test Spearman over
only the test images that are also stimuli of a BrainIO data set (same name, same bytes), and `memscore analyze
figures --memorability things-memorability-pls` draws Fig. 2 on those images, paired with `neural-*` runs on that
data set. Small fixtures in the real formats (THINGS memorability's table and tree; a BrainIO assembly, stimulus
CSV and manifest whose stimuli are copies of THINGS images, one same-name image with other bytes); a random-init
resnet18 at 40 px on three layers."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

import memscore
from memscore.errors import OptionError
from memscore.items import Items
from memscore_plugins.benchmarks.harada2023.commands import analyze
from memscore_plugins.benchmarks.memsets.things import ThingsMemorability
from memscore_plugins.demo.synthetic import _image, write_brainio

SIZE = 40
FAST = {"image_size": SIZE, "pca": 30, "layers": "conv1+layer1.0.relu+layer4.1.relu"}
LAYERS = FAST["layers"].split("+")
SPLITS = "1,2"


def _jpeg(path: Path, u: float, rng: np.random.Generator) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(u, rng, SIZE), "RGB").save(path, "JPEG", quality=90)


def build_things(root: Path, n_concepts: int = 30, per_concept: int = 4, *, seed: int = 0) -> Path:
    """THINGS memorability's layout (as plugins/benchmarks/memsets/test_memsets_more.py writes it, without its
    quirks): ``THINGS_Memorability_Scores.csv`` (``file_path`` = ``images/<concept>/<image>``, ``cr`` following
    a planted u) and ``object_images/<concept>/<concept>_<nn><letter>.jpg``."""
    root = Path(root)
    rng = np.random.default_rng([seed, 31])
    u = rng.uniform(0.0, 1.0, n_concepts * per_concept)
    rows = []
    for i, ui in enumerate(u):
        concept = f"concept{i // per_concept:02d}"
        name = f"{concept}_{i % per_concept + 1:02d}{'bcdfghjkmnpqrs'[i % 14]}.jpg"
        _jpeg(root / "object_images" / concept / name, float(ui), rng)
        rows.append(f"{i + 1},{name},images/{concept}/{name},{0.1 + 0.7 * ui + 0.04 * rng.standard_normal():.6f}")
    (root / "THINGS_Memorability_Scores.csv").write_text("image_nr,image_name,file_path,cr\n" + "\n".join(rows) + "\n")
    return root


def build_shared_neural(root: Path, things: Path, *, seed: int = 0) -> dict:
    """A BrainIO data set on THINGS images: images #1-#3 of every concept, copied under their file names (90
    stimuli); one of them (a test image of split 1) replaced by another picture under the same name. IT sites
    with reliable responses (a mean per stimulus plus trial noise), 4 repetitions, one 70-170 ms bin."""
    root = Path(root)
    data = ThingsMemorability(things)
    names = data.rows()[0]
    chosen = [n for n in names if int(Path(n).stem.split("_")[-1][:2]) <= 3]
    swapped = next(n for n in data.read_part("test", 1).names if n in chosen)
    rng = np.random.default_rng([seed, 7])
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids, rows = [], []
    for i, n in enumerate(chosen):
        sid, base = f"t{i:03d}", Path(n).name
        if n == swapped:
            _jpeg(root / "images" / base, 0.93, rng)  # the same name, other bytes: not the THINGS image
        else:
            shutil.copy(data.image_path(n), root / "images" / base)
        ids.append(sid)
        rows.append(f"{sid},{base},{n.split('/')[0]}\n")
    (root / "stimuli.csv").write_text("stimulus_id,filename,object_name\n" + "".join(rows))
    # the same stimulus set as a CSV on its own (file names relative to it)
    (root / "shared.csv").write_text("stimulus_id,filename\n" + "".join(f"{r.split(',')[0]},images/{r.split(',')[1]}\n"
                                                                      for r in rows))
    n_stim, n_reps, n_sites = len(ids), 4, 8
    stim = np.repeat(np.arange(n_stim), n_reps)
    mean = rng.normal(size=(n_stim, n_sites))
    trials = mean[stim] + 0.3 * rng.normal(size=(len(stim), n_sites))
    write_brainio(root / "assy.nc", trials[..., None].astype(np.float32),
                  {"stimulus_id": [ids[i] for i in stim], "repetition": np.tile(np.arange(n_reps), n_stim),
                   "object_name": [rows[i].split(",")[2].strip() for i in stim]},
                  {"neuroid_id": [f"it{j}" for j in range(n_sites)], "region": ["IT"] * n_sites}, [(70, 170)])
    (root / "neural.json").write_text(json.dumps({
        "identifier": "things-macaque", "assembly": "assy.nc", "stimulus_set": "stimuli.csv", "stimuli_dir": "images",
        "regions": ["IT"], "visual_degrees": 8, "time_window": [70, 170], "stratification": None}))
    return {"manifest": root / "neural.json", "csv": root / "shared.csv", "chosen": chosen, "swapped": swapped}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    things = build_things(tmp_path_factory.mktemp("things"))
    return things, build_shared_neural(tmp_path_factory.mktemp("macaque"), things)


def _things(root, store=True, **bargs):
    return memscore.score("resnet18", "things-memorability-pls", weights="none", progress=False, device="cpu",
                          data_root=[f"things-memorability={root}"], store=store,
                          benchmark_args={**FAST, "splits": SPLITS, **bargs})


def _shared_test(things: Path, fx: dict) -> dict[int, list[str]]:
    """Per split, the test images shared with the neural set: copied there, not the swapped one."""
    data, shared = ThingsMemorability(things), set(fx["chosen"]) - {fx["swapped"]}
    return {k: [n for n in data.read_part("test", k).names if n in shared] for k in (1, 2)}


def test_the_restricted_run_is_spearman_over_the_shared_test_images_only(sets):
    things, fx = sets
    full = _things(things, store=False)
    sub = _things(things, store=False, shared_with=str(fx["manifest"]))
    expected = _shared_test(things, fx)
    sw = sub.meta["shared_with"]
    assert sw["name"] == "things-macaque" and sw["kind"] == "manifest"
    assert sw["name_matches_other_content"] == 1 and sw["other_content_examples"] == [fx["swapped"]]
    assert [(d["split"], d["shared"]) for d in sw["splits"]] == [(k, len(v)) for k, v in expected.items()]
    assert all(d["shared"] >= 10 and d["shared"] < d["test"] for d in sw["splits"])
    # training unchanged; scored on the shared test images only, and the items hold exactly those
    assert [s["n_train"] for s in sub.splits] == [s["n_train"] for s in full.splits]
    assert [s["n_test"] for s in sub.splits] == [len(v) for v in expected.values()]
    items = Items.from_dict(sub.items)
    assert {g.group: sorted(g.ids) for g in items.groups} == {k: sorted(v) for k, v in expected.items()}
    assert items.point() == pytest.approx(sub.value, abs=1e-12) and sub.ceiling is None
    # keyed: the config says a set restricts it (not where it lies), the data fingerprint which images
    assert sub.meta["config"]["benchmark_args"]["shared_with"] == "manifest"
    assert "shared_with" not in full.meta["config"]["benchmark_args"]
    assert sub.meta["data"]["fingerprint"] != full.meta["data"]["fingerprint"]
    assert sub.meta["data"]["parts"]["shared_with"] == sw["digest"]

    # every layer's value: scipy's Spearman over the shared test images of the unrestricted readout's predictions
    rows = {r["layer"]: r for r in sub.layers}
    for layer in LAYERS:
        one = _things(things, store=False, layers=layer)
        assert one.meta["timings"]["extract_s"] == 0  # the activations are the cached ones: the same readout
        per_split = []
        for g, k in zip(Items.from_dict(one.items).groups, (1, 2)):
            keep = [i for i, n in enumerate(g.ids) if n in set(expected[k])]
            assert len(keep) == len(expected[k])
            per_split.append(spearmanr(g.prediction[keep], g.target[keep]).statistic)
        canon = layer if layer in rows else one.layers[0]["layer"]
        assert rows[canon]["splits"] == pytest.approx(per_split, abs=1e-12)
        assert rows[canon]["value"] == pytest.approx(np.mean(per_split), abs=1e-12)

    # the same stimuli named by their CSV: the same images, the same values (and the same set's content)
    by_csv = _things(things, store=False, shared_with=str(fx["csv"]))
    assert by_csv.meta["config"]["benchmark_args"]["shared_with"] == "stimulus-set"
    assert by_csv.meta["shared_with"]["stimuli"] == sw["stimuli"]
    assert [r["value"] for r in by_csv.layers] == [r["value"] for r in sub.layers]


def test_too_few_shared_test_images_is_one_line(sets, tmp_path):
    things, fx = sets
    few = tmp_path / "few.csv"
    few.write_text("filename\n" + "".join(Path(n).name + "\n" for n in fx["chosen"][:6]))
    for name in [Path(n).name for n in fx["chosen"][:6]]:
        shutil.copy(fx["manifest"].parent / "images" / name, tmp_path / name)
    with pytest.raises(OptionError) as exc:
        _things(things, store=False, shared_with=str(few))
    msg = str(exc.value)
    assert "\n" not in msg and "need at least 10" in msg and "few" in msg and "shared_with" in msg, msg
    with pytest.raises(OptionError, match="shared_with=.*is not a file"):
        _things(things, store=False, shared_with=str(tmp_path / "absent.json"))


def test_fig2_is_drawn_on_the_shared_images(sets, tmp_path):
    """Fig. 2 with --memorability things-memorability-pls pairs the restricted runs with neural-it on the
    manifest: its rho is scipy's over those layer pairs; the unrestricted run and a neural run on other data are
    left out, each with its reason."""
    from memscore.store import ResultStore
    from memscore.record import run_key

    things, fx = sets
    sub = _things(things, shared_with=str(fx["manifest"]))
    _things(things)  # the whole test sets: not this panel's
    it = memscore.score("resnet18", "neural-it", weights="none", progress=False, device="cpu",
                        benchmark_args={"dataset": str(fx["manifest"]), **FAST})
    assert it.meta["data"]["parts"]["stimuli"] == sub.meta["shared_with"]["stimuli"]  # the pairing: content
    store = ResultStore()
    other = it.to_dict()  # another model's neural-it run on other data (a new run: its own id)
    for k in ("run_id", "created", "key"):
        other["meta"].pop(k, None)
    other["model"], other["meta"]["data"] = "other-net", {**other["meta"]["data"], "name": "MajajHong2015.public",
                                                          "fingerprint": "f" * 32, "parts": {"stimuli": "0" * 24}}
    from memscore.scores import Score

    store.put(Score.from_dict(other), run_key("other-net", "none", "neural-it", "1", {"x": 1}))

    out = tmp_path / "figs"
    r = CliRunner().invoke(analyze, ["figures", "--only", "fig2", "--memorability", "things-memorability-pls",
                                     "--out", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "shared with things-macaque" in r.output
    fig2 = json.loads((out / "fig2.json").read_text())
    assert fig2["memorability"] == "things-memorability-pls"
    panel = fig2["panels"]["IT"]
    mem = {row["layer"]: row["value"] for row in sub.layers}
    pairs = [(row["value"], mem[row["layer"]]) for row in it.layers if row["layer"] in mem]
    assert panel["n"] == len(pairs) == len(LAYERS)
    assert panel["rho"] == pytest.approx(spearmanr(*zip(*pairs)).statistic, abs=1e-12)
    images = panel["images"]
    assert images["shared"] and images["neural_data"] == "things-macaque"
    assert images["shared_test_images"] == sub.meta["shared_with"]["shared_test_images"]
    assert images["name_matches_other_content"] == 1 and panel["paper_rho"] is None
    assert panel["data"]["things-memorability-pls"]["shared_with"]["name"] == "things-macaque"
    assert panel["data"]["neural-it"]["data"] == "things-macaque"
    why = {(x["benchmark"], tuple(x["models"])): x["why"] for x in panel["left_out"]}
    assert "scored on all its test images" in why[("things-memorability-pls", ("resnet18",))]
    assert "is not things-macaque" in why[("neural-it", ("other-net",))]
    rows = [row for row in (out / "fig2.csv").read_text().splitlines()[1:] if row.startswith("IT,")]
    assert len(rows) == len(LAYERS)

    # the default (lamem-pls) has no runs here: said in one line, nothing mixed in
    r = CliRunner().invoke(analyze, ["figures", "--only", "fig2", "--out", str(tmp_path / "none"), "--no-plots"])
    assert r.exit_code != 0 and "lamem-pls" in str(r.exception)
