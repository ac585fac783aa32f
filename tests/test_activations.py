"""The activation engine equals a plain pipeline (full activations -> sklearn PCA), caches, groups."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from lamem_fixture import build_lamem
from memscore.activations import Extractor, fit_pca_from
from memscore.errors import DataError
from memscore.images import load_image
from memscore.stimuli import Stimuli
from memscore_plugins.models.torchvision.models import build

SIZE = 48


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = build_lamem(tmp_path_factory.mktemp("lamem"), 60, image_size=48)
    return Stimuli.from_folder(root / "images")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("resnet18", weights="none")


def full_activations(model, stimuli, layers):
    """The plain way: every layer's whole output, captured at the module's last call."""
    info = {li.name: li for li in model.layer_info(SIZE)}
    out, calls, hooks = {n: [] for n in layers}, {}, []

    def hook(name):
        def fn(_m, _i, o):
            calls[name] = calls.get(name, 0) + 1
            if calls[name] == info[name].calls:
                out[name].append(o.flatten(1).detach().clone())
        return fn

    for n in layers:
        hooks.append(model.module.get_submodule(n).register_forward_hook(hook(n)))
    tf = model.transform(SIZE)
    x = torch.stack([tf(load_image(p)) for p in stimuli.paths])
    with torch.no_grad():
        for i in range(0, len(x), 16):
            calls.clear()
            model.module(x[i:i + 16])
    for h in hooks:
        h.remove()
    return {n: torch.cat(v).double().numpy() for n, v in out.items()}


def test_engine_equals_full_activations_then_sklearn_pca(model, images, tmp_path):
    ref_idx = list(range(0, len(images), 2))
    k = 20
    ex = Extractor(model, n_components=k, reference=images.subset(ref_idx), batch_size=16, image_size=SIZE,
                   cache_dir=tmp_path, progress=False)
    layers = model.layers(image_size=SIZE)
    acts = ex.extract(images, layers)
    full = full_activations(model, images, layers)
    # resnet18 has 67 modules with an output; 15 hand on another's unmodified (layer4 = layer4.1 = the last
    # call of layer4.1.relu, downsample = its BatchNorm): aliases, not layers
    assert len(layers) == 52 and len(model.layer_info(SIZE)) == 67 and acts.report["computed"]
    for name in layers:
        raw = full[name]
        ours = np.asarray(acts[name], dtype=np.float64)
        if raw.shape[1] <= k:
            np.testing.assert_allclose(ours, raw, rtol=1e-5, atol=1e-6 * np.abs(raw).max())
            continue
        ref = PCA(n_components=min(k, len(ref_idx) - 1), svd_solver="full").fit(raw[ref_idx]).transform(raw)
        signs = np.sign((ref * ours).sum(0))
        assert ours.shape == ref.shape
        err = np.abs(ours * signs - ref).max() / np.abs(ref).max()
        assert err < 1e-4, (name, err)


def test_second_run_reads_cache_and_computes_nothing(model, images, tmp_path, monkeypatch):
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE,
              cache_dir=tmp_path, progress=False)
    first = Extractor(model, **kw).extract(images)
    monkeypatch.setattr(model.module, "forward", lambda *a, **k: pytest.fail("forward ran on a cached run"))
    again = Extractor(model, **kw).extract(images)
    assert not again.report["computed"] and again.report["passes"] == 0
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])


def test_cache_key_changes_with_weights_and_stimuli(model, images, tmp_path):
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE,
              cache_dir=tmp_path, progress=False)
    layers = ["layer4"]
    Extractor(model, **kw).extract(images, layers)
    torch.manual_seed(1)
    other = build("resnet18", weights="none")  # same name, different random weights
    assert Extractor(other, **kw).extract(images, layers).report["computed"]
    assert Extractor(model, **kw).extract(images.subset(range(30)), layers).report["computed"]


def test_small_memory_budget_uses_groups_and_gives_same_result(model, images, tmp_path):
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE, progress=False)
    one = Extractor(model, cache_dir=tmp_path / "a", **kw)
    a = one.extract(images)
    many = Extractor(model, cache_dir=tmp_path / "b", memory_gb=0.002, **kw)
    b = many.extract(images)
    assert one.passes == 2  # one PCA-fit pass, one extraction pass
    assert many.passes > 4
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5)


def test_memory_mapped_bases_get_the_page_cache_budget_unless_one_is_set(model, monkeypatch, tmp_path):
    import memscore.memory as mem

    monkeypatch.setattr(mem, "available_memory", lambda: 100 * 2**30)
    monkeypatch.delenv("MEMSCORE_MEMORY_GB", raising=False)
    ex = Extractor(model, n_components=None, device="cpu", cache_dir=tmp_path, progress=False)
    assert ex._bases_budget(mmap=True) == 75 * 2**30  # bases live in the page cache: most of what is free
    assert ex._bases_budget(mmap=False) == ex.memory  # bases copied into the process (GPU): its budget
    pinned = Extractor(model, n_components=None, device="cpu", cache_dir=tmp_path, memory_gb=2, progress=False)
    assert pinned._bases_budget(mmap=True) == 2 * 2**30  # an explicit budget is obeyed
    monkeypatch.setenv("MEMSCORE_MEMORY_GB", "3")
    env = Extractor(model, n_components=None, device="cpu", cache_dir=tmp_path, progress=False)
    assert env._bases_budget(mmap=True) == 3 * 2**30


def test_default_budget_runs_in_one_pass_and_equals_a_grouped_run(model, images, tmp_path, monkeypatch):
    """No MEMSCORE_MEMORY_GB: memory-mapped bases get the page-cache budget (one pass); same numbers."""
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE, progress=False)
    grouped = Extractor(model, cache_dir=tmp_path / "a", memory_gb=0.002, **kw)
    a = grouped.extract(images)
    monkeypatch.delenv("MEMSCORE_MEMORY_GB", raising=False)
    auto = Extractor(model, cache_dir=tmp_path / "b", device="cpu", **kw)
    b = auto.extract(images)
    assert grouped.passes > 4 and auto.passes == 2  # PCA fit + one extraction pass
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize("memory_gb", [None, 0.002], ids=["one-group", "many-groups"])
def test_refit_bases_are_never_written_and_give_the_stored_results(model, images, tmp_path, memory_gb):
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE,
              progress=False, memory_gb=memory_gb)
    stored = Extractor(model, cache_dir=tmp_path / "a", pca_bases="disk", **kw).extract(images)
    refit = Extractor(model, cache_dir=tmp_path / "b", pca_bases="refit", **kw)
    again = refit.extract(images)
    assert list((tmp_path / "a" / "pca").rglob("*.pt")) and not (tmp_path / "b" / "pca").exists()
    assert refit.timings["pca_fit_s"] > 0 and again.report["computed"]
    for name in stored:
        np.testing.assert_array_equal(stored[name], again[name])


def test_auto_refits_only_when_the_bases_would_not_fit_on_disk(model, images, tmp_path, monkeypatch):
    import shutil as _shutil

    import memscore.activations as act

    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE, progress=False)
    layers = model.layers(image_size=SIZE)
    units = {li.name: li.units for li in model.layer_info(SIZE)}
    roomy = Extractor(model, cache_dir=tmp_path / "a", **kw)
    assert not roomy._refit(layers, units)
    full_disk = _shutil._ntuple_diskusage(total=10**12, used=10**12 - 50_000, free=50_000)  # activations fit, bases do not
    monkeypatch.setattr(act.shutil, "disk_usage", lambda path: full_disk)
    cramped = Extractor(model, cache_dir=tmp_path / "b", **kw)
    assert cramped._refit(layers, units)
    cramped.extract(images, ["layer1.0.conv1", "fc"])
    assert not list((tmp_path / "b").rglob("*.pt"))  # nothing stored that the disk could not hold
    with pytest.raises(ValueError, match="pca_bases"):
        Extractor(model, cache_dir=tmp_path, pca_bases="ram", **kw)


def test_bf16_runs_key_their_own_cache_and_stay_close(model, images, tmp_path):
    """bf16 autocast changes the numbers: its activations (and bases) are cached apart from fp32's."""
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE,
              cache_dir=tmp_path, progress=False, device="cpu")
    layers = ["layer1.0.conv1", "layer4", "fc"]
    fp32 = Extractor(model, **kw).extract(images, layers)
    bf16 = Extractor(model, bf16=True, **kw).extract(images, layers)
    assert bf16.report["computed"]  # not served from the fp32 cache
    for name in layers:
        a, b = np.asarray(fp32[name]), np.asarray(bf16[name])
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert not np.array_equal(a, b)
        cos = np.abs((a * b).sum(0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
        assert np.median(cos) > 0.9, name  # same components up to bf16 rounding (signs may flip)


def test_bf16_refit_bases_are_held_in_bf16_and_stay_close_to_the_stored_bases(model, images, tmp_path):
    """--bf16 with bases fitted for the pass (the accelerator's default): the bases are kept in bf16 (half the
    device memory), never written; the projections stay within bf16 rounding of the fp32 bases' under the same
    bf16 forward."""
    from memscore.pca import fit_pca_from

    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE,
              progress=False, device="cpu", bf16=True)
    layers = ["layer1.0.conv1", "layer4", "fc"]
    disk = Extractor(model, cache_dir=tmp_path / "a", pca_bases="disk", **kw).extract(images, layers)
    refit = Extractor(model, cache_dir=tmp_path / "b", pca_bases="refit", **kw)
    got = refit.extract(images, layers)
    assert not (tmp_path / "b" / "pca").exists()
    for name in layers:
        a, b = np.asarray(disk[name]), np.asarray(got[name])
        assert b.dtype == np.float32 and a.shape == b.shape
        assert np.abs(a - b).max() <= 0.02 * np.abs(a).max(), name
    pca = fit_pca_from(torch.randn(30, 50), 5)
    x = torch.randn(4, 50)
    assert pca.bf16().basis.dtype == torch.bfloat16 and pca.bf16().project(x).dtype == torch.float32
    torch.testing.assert_close(pca.bf16().project(x), pca.project(x), rtol=0.02, atol=0.05)


def test_refit_plan_holds_bases_and_fits_in_their_halves_and_the_plan_counts_the_passes(model, images, tmp_path):
    """The refit policy's groups: a pass group's bases (bf16: 2 bytes each) within half the budget, its fits
    within the other half; bf16 bases need no more passes; the dry-run cost counts the passes the run makes."""
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE, progress=False,
              pca_bases="refit", memory_gb=0.0004)
    layers = model.layers(image_size=SIZE)
    units = {li.name: li.units for li in model.layer_info(SIZE)}
    fp32 = Extractor(model, cache_dir=tmp_path / "a", **kw)
    half = fp32.memory // 2
    plan = fp32._refit_plan(layers, units)
    assert [n for g, _ in plan for n in g] == layers and len(plan) > 1
    for group, fits in plan:
        need = [n for n in group if units[n] > 10]
        assert sorted(n for f in fits for n in f) == sorted(need)
        assert len(group) == 1 or sum(units[n] * 11 * 4 for n in need) <= half
        assert all(len(f) == 1 or sum(fp32._fit_cost(units[n]) for n in f) <= half for f in fits)
    bf16 = Extractor(model, cache_dir=tmp_path / "b", bf16=True, **kw)
    assert len(bf16._refit_plan(layers, units)) <= len(plan)
    planned = fp32.plan(images)
    fp32.extract(images)
    assert planned.passes == fp32.passes == len(plan) + sum(len(f) for _, f in plan)


def test_auto_keeps_the_bases_off_the_disk_on_an_accelerator(model, images, tmp_path):
    """On a GPU "auto" fits the bases per pass on the device (never written); on the CPU it stores them."""
    kw = dict(n_components=10, reference=images.subset(range(20)), batch_size=16, image_size=SIZE, progress=False)
    layers = model.layers(image_size=SIZE)
    units = {li.name: li.units for li in model.layer_info(SIZE)}
    ex = Extractor(model, cache_dir=tmp_path, device="cpu", **kw)
    assert not ex._refit(layers, units)
    ex.device = torch.device("cuda")  # the policy only (no GPU here): nothing runs on it
    assert ex._refit(layers, units)
    ex.pca_bases = "disk"
    assert not ex._refit(layers, units)


def test_cgroup_memory_limit_of_a_job_or_container(tmp_path, monkeypatch):
    """A SLURM job or container limit caps the budgets: /proc/meminfo shows the whole machine."""
    import memscore.memory as mem

    v2 = tmp_path / "v2"
    (v2 / "slurm" / "job_7" / "step_0").mkdir(parents=True)
    (v2 / "memory.max").write_text("max\n")
    (v2 / "slurm" / "job_7" / "memory.max").write_text(str(32 * 2**30) + "\n")  # the job's limit
    (v2 / "slurm" / "job_7" / "step_0" / "memory.max").write_text("max\n")
    proc = tmp_path / "cgroup_v2"
    proc.write_text("0::/slurm/job_7/step_0\n")
    assert mem.cgroup_memory_limit(str(proc), str(v2)) == 32 * 2**30

    v1 = tmp_path / "v1"
    (v1 / "memory" / "docker" / "abc").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # the host: unlimited
    (v1 / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text(str(8 * 2**30))
    proc1 = tmp_path / "cgroup_v1"
    proc1.write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert mem.cgroup_memory_limit(str(proc1), str(v1)) == 8 * 2**30

    (v1 / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert mem.cgroup_memory_limit(str(proc1), str(v1)) is None  # no limit anywhere
    assert mem.cgroup_memory_limit(str(tmp_path / "missing"), str(v1)) is None

    monkeypatch.delenv("MEMSCORE_MEMORY_GB", raising=False)
    monkeypatch.setattr(mem, "cgroup_memory_limit", lambda: 4 * 2**30)
    assert mem.default_memory_gb(torch.device("cpu")) == pytest.approx(0.45 * 4)
    assert 0 < mem.available_memory() <= 4 * 2**30


def test_stored_basis_memory_mapped_equals_loaded(tmp_path):
    from memscore.activations import StoredPCA

    pca = fit_pca_from(torch.randn(30, 200), 10)
    torch.save({"mean": pca.mean, "basis": pca.basis, "explained_variance": pca.explained_variance},
               tmp_path / "b.pt")
    stored = StoredPCA(tmp_path / "b.pt", 200)
    stored.prefetch()
    x = torch.randn(4, 200)
    np.testing.assert_array_equal(stored.load(mmap=True).project(x), stored.load().project(x))
    np.testing.assert_allclose(stored.load(mmap=True).project(x), (x - pca.mean) @ pca.basis, atol=1e-5)
    assert stored.k == 10 and stored.nbytes == 200 * 10 * 4


def test_pca_drops_null_directions_and_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 500, generator=g, dtype=torch.float64).float()
    pca = fit_pca_from(x.clone(), k=100)
    assert pca.k == 29  # 30 centred points span 29 directions
    ref = PCA(29, svd_solver="full").fit(x.double().numpy())
    np.testing.assert_allclose(np.abs(pca.basis.double().numpy()), np.abs(ref.components_.T), atol=1e-5)
    np.testing.assert_allclose(pca.explained_variance.numpy(), ref.explained_variance_, rtol=1e-4)


def test_bad_image_stops_or_is_flagged(model, images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    st = Stimuli.from_paths([*images.paths[:5], bad, *images.paths[5:9]])
    kw = dict(n_components=None, batch_size=4, image_size=SIZE, progress=False)
    with pytest.raises(DataError, match="broken.jpg"):
        Extractor(model, cache_dir=tmp_path / "a", **kw).extract(st, ["layer4"])
    acts = Extractor(model, cache_dir=tmp_path / "b", skip_bad_images=True, **kw).extract(st, ["layer4"])
    assert acts.bad == ["broken.jpg"]
    with pytest.raises(DataError, match="broken.jpg.*--skip-bad-images"):  # the cache does not hide it
        Extractor(model, cache_dir=tmp_path / "b", **kw).extract(st, ["layer4"])
    assert not acts["layer4"][5].any() and acts["layer4"][4].any()
    good = Extractor(model, cache_dir=tmp_path / "c", **kw).extract(images.subset(range(9)), ["layer4"])
    # batches are composed differently, so allow float32 round-off
    np.testing.assert_allclose(acts["layer4"][[0, 1, 2, 3, 4, 6, 7, 8, 9]], good["layer4"], rtol=1e-4,
                               atol=1e-5 * np.abs(good["layer4"]).max())


def test_layer_discovery_counts_and_last_call(model):
    info = {li.name: li for li in model.layer_info()}
    assert info["conv1"].units == 64 * 112 * 112
    assert info["layer1.0.relu"].calls == 2  # reused ReLU: its last call (the block output) is captured
    assert model.penultimate_layer == "avgpool"
    assert model.excluded_layers() == []


@pytest.mark.parametrize("memory_gb", [None, 0.002], ids=["one-group", "many-groups"])
def test_stimuli_as_their_own_reference_project_from_the_gram_with_no_basis(model, images, tmp_path, memory_gb):
    """The reference set is the stimuli: scores U·sqrt(λ) from the Gram, one pass per group, nothing under
    pca/; float64 sklearn's PCA to 1e-6 of the layer's scale, and the stored-basis path's numbers with the same
    signs (that path's float32 basis is ~100x less exact: 2-5e-6 here)."""
    kw = dict(n_components=10, reference=images, batch_size=16, image_size=SIZE, progress=False,
              memory_gb=memory_gb)
    layers = model.layers(image_size=SIZE)
    disk = Extractor(model, cache_dir=tmp_path / "a", pca_bases="disk", **kw)
    stored = disk.extract(images, layers)
    gram = Extractor(model, cache_dir=tmp_path / "b", **kw)
    ours = gram.extract(images, layers)
    assert list((tmp_path / "a" / "pca").rglob("*.pt")) and not (tmp_path / "b" / "pca").exists()
    assert gram.passes < disk.passes and (memory_gb or gram.passes == 1)
    reduced = 0
    for name in layers:
        a, b = np.asarray(stored[name], dtype=np.float64), np.asarray(ours[name], dtype=np.float64)
        assert a.shape == b.shape
        reduced += a.shape[1] == 10
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5 * max(np.abs(a).max(), 1e-30), err_msg=name)
    assert reduced > 40
    sample = [layers[0], layers[len(layers) // 2], layers[-3]]
    full = full_activations(model, images, sample)
    for name in sample:
        ref = PCA(n_components=10, svd_solver="full").fit_transform(full[name])
        b = np.asarray(ours[name], dtype=np.float64)
        signs = np.sign((ref * b).sum(0))
        assert (np.sign((np.asarray(stored[name]) * b).sum(0)) > 0).all(), name  # the basis path's signs
        assert np.abs(b * signs - ref).max() < 1e-6 * np.abs(ref).max(), name


def test_gram_path_drops_undecodable_stimuli_like_the_basis_path(model, tmp_path):
    root = build_lamem(tmp_path / "lamem", 24, image_size=48)
    files = sorted((root / "images").glob("*.jpg"))
    files[5].write_bytes(b"not a jpeg")
    stimuli = Stimuli.from_folder(root / "images")
    kw = dict(n_components=6, reference=stimuli, batch_size=8, image_size=SIZE, progress=False,
              skip_bad_images=True)
    layers = ["layer1.0.conv1", "layer3", "fc"]
    a = Extractor(model, cache_dir=tmp_path / "a", pca_bases="disk", **kw).extract(stimuli, layers)
    b = Extractor(model, cache_dir=tmp_path / "b", **kw).extract(stimuli, layers)
    assert a.bad == b.bad == [stimuli.ids[5]]
    for name in layers:
        assert not np.asarray(b[name])[5].any()
        np.testing.assert_allclose(b[name], a[name], rtol=0, atol=2e-5 * np.abs(np.asarray(a[name])).max())
    with pytest.raises(DataError, match="cannot decode"):
        Extractor(model, cache_dir=tmp_path / "c", **{**kw, "skip_bad_images": False}).extract(stimuli, layers)


def test_the_cost_is_said_before_the_work_and_refused_when_it_cannot_fit(model, images, tmp_path, monkeypatch,
                                                                        capsys):
    import memscore.memory as mem
    from memscore.atomic import DiskFullError
    from memscore.cost import ResourceError

    kw = dict(n_components=10, batch_size=16, image_size=SIZE, progress=False)
    layers = ["layer1.0.conv1", "layer4", "fc"]
    units = {li.name: li.units for li in model.layer_info(SIZE)}
    Extractor(model, cache_dir=tmp_path / "a", reference=images, **kw).extract(images, layers)
    line = capsys.readouterr().err
    expected = 60 * 4 * 10 * 3  # each layer has more than k units: 10 components each
    from memscore.cost import size
    assert "60 stimuli x 3 layers to compute" in line and "; 1 pass;" in line and "no bases written" in line
    assert f"activations {size(expected)}" in line
    disk = Extractor(model, cache_dir=tmp_path / "b", reference=images.subset(range(20)), pca_bases="disk", **kw)
    disk.extract(images, layers)
    line = capsys.readouterr().err
    bases = sum(units[n] * (10 + 1) * 4 for n in layers)
    assert "; 2 passes;" in line and f"PCA bases {size(bases)} written" in line

    def nothing(*_a, **_k):
        pytest.fail("a forward pass ran although the plan was refused")

    monkeypatch.setattr(model.module, "forward", nothing)
    monkeypatch.setattr(mem, "available_memory", lambda: 1000)
    with pytest.raises(ResourceError, match=r"layer layer1\.0\.conv1 needs .* of memory at once"):
        Extractor(model, cache_dir=tmp_path / "c", reference=images, **kw).extract(images, layers)
    monkeypatch.setattr(mem, "available_memory", lambda: 0)
    import memscore.atomic as atomic

    monkeypatch.setattr(atomic, "_free", lambda folder: 1000)
    with pytest.raises(DiskFullError, match="this step needs"):
        Extractor(model, cache_dir=tmp_path / "d", reference=images, **kw).extract(images, layers)
