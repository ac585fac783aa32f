"""MemCat and CSV memorability sets in their real layouts: read by column name, seeded stratified splits,
malformed tables in one line; planted signal recovered by memcat-pls and not from a shuffled copy; transfer
from LaMem with the layer chosen on LaMem's val split, sharing lamem-pls's activations."""
from __future__ import annotations

import numpy as np
import pytest

import memscore
from memscore.errors import DataError
from memscore_plugins.benchmarks.memsets.data import MemCat, MemorabilityCSV, seeded_splits
from memscore_plugins.demo.synthetic import build_lamem, build_memcat, build_memorability_csv

SIZE = 48
FAST = {"image_size": SIZE, "pca": 40, "layers": "conv1+layer1.0.relu+layer2.1.relu+layer3.1.relu+layer4.1.relu+fc"}


@pytest.fixture(scope="module")
def memcat(tmp_path_factory):
    return build_memcat(tmp_path_factory.mktemp("memcat"), 200, image_size=SIZE)


def score(bench, roots, **bargs):
    return memscore.score("resnet18", bench, weights="none", data_root=roots, progress=False,
                          benchmark_args={**FAST, **bargs}, store=False)


def test_memcat_reads_by_column_name_and_splits_stratified(memcat):
    data = MemCat(memcat)
    names, scores, cats, _ = data.rows()
    assert len(names) == 200 and names[0] == "animal/bird/animal_bird_00000.jpg" and data.image_path(names[0]).is_file()
    wo = MemCat(memcat, score="memorability_wo_fa_correction").rows()[1]
    np.testing.assert_allclose(wo, 0.1 + 0.9 * scores, atol=2e-6)  # the other column, by name
    for k in (1, 2):
        parts = {p: data.read_part(p, k) for p in ("train", "val", "test")}
        every = [n for p in parts.values() for n in p.names]
        assert sorted(every) == sorted(names)  # disjoint and complete
        for cat in {c for c in cats}:  # 70/10/20 within each category
            n_cat = sum(c == cat for c in cats)
            assert sum(n.startswith(cat + "/") for n in parts["train"].names) == round(0.7 * n_cat)
    assert data.read_part("test", 1).names != data.read_part("test", 2).names  # splits differ
    assert data.read_part("test", 1).names == MemCat(memcat).read_part("test", 1).names  # and are seeded
    report = data.check()
    assert report["images"] == 200 and report["categories"]["animal"] == 40
    assert (report["split files"] and (__import__("pathlib").Path(report["split files"]) / "test_3.txt").is_file())


def test_seeded_splits_keep_groups_whole():
    groups = np.repeat(np.arange(20), 5)
    parts = seeded_splits(100, 1, groups=groups)
    sides = {p: set(groups[idx]) for p, idx in parts.items()}
    assert not (sides["train"] & sides["test"]) and not (sides["train"] & sides["val"])
    assert sum(len(v) for v in parts.values()) == 100


@pytest.mark.parametrize("fault, expected", [
    (lambda p: p.write_text("image_file,category,subcategory\na.jpg,animal,bird\n"), "no column memorability_w_fa"),
    (lambda p: p.write_text(p.read_text().replace(",0.", ",abc", 1)), "is not a finite number"),
    (lambda p: p.write_text(p.read_text() + p.read_text().splitlines()[1] + "\n"), "is listed twice"),
    (lambda p: p.write_text(p.read_text().replace("animal,bird", "../x,bird", 1)), "not a plain file or folder name"),
    (lambda p: p.write_text(p.read_text() + "a.jpg,animal\n"), "fields where the header has"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "is not UTF-8 text"),
    (lambda p: p.unlink(), "does not exist"),
])
def test_a_malformed_memcat_table_is_one_line(tmp_path, fault, expected):
    root = build_memcat(tmp_path / "m", 20, image_size=16)
    fault(root / "MemCat_data" / "memcat_image_data.csv")
    with pytest.raises(DataError) as exc:
        MemCat(root).rows()
    assert expected in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_memcat_image_is_one_line(tmp_path):
    root = build_memcat(tmp_path / "m", 20, image_size=16)
    next((root / "MemCat_images").rglob("*.jpg")).unlink()
    with pytest.raises(DataError, match=r"1 listed image\(s\) missing"):
        MemCat(root).rows()


def test_memcat_pls_recovers_planted_signal_and_not_a_shuffled_copy(memcat, tmp_path):
    s = score("memcat-pls", f"memcat={memcat}")
    assert s.value > 0.6 and s.ci[0] < s.value < s.ci[1], s.summary()
    assert s.meta["data"]["name"] == "memcat" and len(s.splits) == 5
    assert s.ceiling is None and "normalised" not in s.meta  # no published MemCat consistency given here
    shuffled = build_memcat(tmp_path / "shuffled", 200, image_size=SIZE, shuffled=True)
    assert score("memcat-pls", f"memcat={shuffled}", select="val").value < 0.3


def test_csv_set_with_its_own_splits_and_groups(tmp_path):
    own = build_memorability_csv(tmp_path / "own", 150, image_size=SIZE, split_column=True)
    data = MemorabilityCSV(own)
    assert data.split_ids() == [1] and len(data.read_part("test", 1)) == 30
    s = score("memorability-csv-pls", f"memorability-csv={own}", splits="1")
    assert s.value > 0.5 and s.error is None  # one split: no spread
    with pytest.raises(DataError, match="has splits 1, not 2"):
        data.read_part("train", 2)
    grouped = MemorabilityCSV(build_memorability_csv(tmp_path / "g", 60, image_size=16, groups=12))
    names = grouped.rows()[0]
    group = {n: int(n[-8:-4]) % 12 for n in names}
    assert not ({group[n] for n in grouped.read_part("train", 1).names}
                & {group[n] for n in grouped.read_part("test", 1).names})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scores.csv").write_text("image,score\n../../etc/passwd,0.5\n")
    with pytest.raises(DataError, match="escapes images/"):
        MemorabilityCSV(bad).rows()


def test_lamem_to_memcat_transfers_with_the_layer_chosen_on_lamem(memcat, tmp_path):
    lamem = build_lamem(tmp_path / "lamem", 240, image_size=SIZE)
    roots = [f"lamem={lamem}", f"memcat={memcat}"]
    s = memscore.score("resnet18", "lamem-to-memcat", weights="none", data_root=roots, progress=False,
                       benchmark_args={**FAST, "splits": "1,2"}, store=False)
    assert s.value > 0.5, s.summary()
    best = next(r for r in s.layers if r["layer"] == s.meta["layer"])
    assert best["val"] == max(r["val"] for r in s.layers) and s.meta["select"] == "lamem-val"  # chosen on LaMem
    assert s.meta["n_target"] == 200 and s.ci[0] < s.value < s.ci[1]
    # LaMem's side is lamem-pls select=val's: the same stimuli, so its cached activations serve the transfer
    from memscore.api import plan

    assert plan("resnet18", "lamem-pls", weights="none", data_root=str(lamem),
                         benchmark_args={**FAST, "select": "val"}).data.parts["images"] == s.meta["data"]["parts"]["stimuli"]
    with pytest.raises(memscore.MemscoreError, match="memcat=PATH"):
        memscore.score("resnet18", "lamem-to-memcat", weights="none", data_root=[f"lamem={lamem}",
                       f"memcat={tmp_path / 'nothere'}"], progress=False, benchmark_args=FAST, store=False)


def test_transfer_reuses_lamem_pls_activations(memcat, tmp_path, monkeypatch):
    """lamem-to-memcat after lamem-pls (select=val: the same LaMem stimuli) runs the model on MemCat's images
    only: its forward passes are a cold transfer's minus lamem-pls's, and its value is the cold one's."""
    lamem = build_lamem(tmp_path / "lamem", 240, image_size=SIZE)
    roots = [f"lamem={lamem}", f"memcat={memcat}"]

    def run(bench, home):
        monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path / home))
        lamem_pls = bench == "lamem-pls"
        return memscore.score("resnet18", bench, weights="none", data_root=roots[:1] if lamem_pls else roots,
                              progress=False, store=False,
                              benchmark_args={**FAST, "splits": "1", **({"select": "val"} if lamem_pls else {})})

    cold = run("lamem-to-memcat", "cold")
    first = run("lamem-pls", "warm")
    warm = run("lamem-to-memcat", "warm")
    assert first.meta["activation_passes"] > 0 and warm.meta["activation_passes"] > 0
    assert warm.meta["activation_passes"] == cold.meta["activation_passes"] - first.meta["activation_passes"]
    assert warm.value == pytest.approx(cold.value, abs=1e-9)
