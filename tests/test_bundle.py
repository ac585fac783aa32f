"""Result bundles end to end: real runs on a small planted LaMem tree are bundled, read and verified; a
tampered bundle (a value, a config, a file behind its hash, a value changed consistently) fails naming the
run; other data is reported as such; a broken bundle is one line on the command line."""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import memscore
from lamem_fixture import build_lamem
from memscore.bundle import BundleError, make_bundle, read_bundle, schema_errors
from memscore.verify import verify_bundle
from memscore.cli import main
from memscore.leaderboard import build_board
from memscore.record import seal
from memscore.store import ResultStore

N_IMAGES = 120
ARGS = {"splits": "1,2", "pca": 20, "reference_size": 16}
RUNS = {"resnet18": {"image_size": 32, "layers": "layer1.0+layer4.1+avgpool"},
        "alexnet": {"image_size": 64, "layers": "features.2+features.5+avgpool"}}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two random-init runs in their own home, and their bundle: (lamem root, home, bundle path)."""
    base = tmp_path_factory.mktemp("bundle")
    root = build_lamem(base / "lamem", N_IMAGES, image_size=40, n_splits=2)
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEMSCORE_HOME", str(home))
        mp.setenv("MEMSCORE_MEMORY_GB", "4")
        mp.delenv("MEMSCORE_LAMEM", raising=False)
        for model, bargs in RUNS.items():
            memscore.score(model, "lamem-pls", weights="none", data_root=root, device="cpu", progress=False,
                           limit=100, benchmark_args={**ARGS, **bargs})
        store = ResultStore(home)
        path = make_bundle(base / "results.zip", store.query(), command=["memscore", "bundle"],
                           runs_dir=store.runs_dir)
    return root, home, path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(src: Path, dst: Path, model: str, edit, *, fix_manifest: bool = True, reseal: bool = False) -> dict:
    """A copy of bundle ``src`` with ``model``'s run file edited by ``edit(doc)``; the manifest's SHA-256,
    size and value fixed up to match (unless ``fix_manifest`` is False), the run's seal recomputed with
    ``reseal`` (a forger who knows the recipe). Returns the edited run's manifest entry."""
    members = _members(src)
    manifest = json.loads(members["manifest.json"])
    entry = next(e for e in manifest["runs"] if e["model"] == model)
    doc = json.loads(members[entry["file"]])
    edit(doc)
    if reseal:
        doc["meta"]["seal"] = seal(doc)
    data = json.dumps(doc, indent=1).encode()
    members[entry["file"]] = data
    if fix_manifest:
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entry["size"] = len(data)
        entry["value"], entry["run_id"] = doc["value"], doc["meta"]["run_id"]
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return entry


def _failed(report, model: str) -> list[dict]:
    return [r for r in report.failures() if r["run"].startswith(f"{model} on lamem-pls")]


def test_bundle_reads_and_verifies(made):
    root, _, path = made
    b = read_bundle(path)
    assert sorted(s.model for s in b.scores) == ["alexnet", "resnet18"]
    m = b.manifest
    assert m["format"] == "memscore-bundle" and m["format_version"] == 1 and m["command_lines"] == ["memscore bundle"]
    assert set(m["plugins"]) == {"lamem", "zoo"} and m["devices"] == ["cpu"]
    assert m["benchmarks"]["lamem-pls"]["data"]["name"] == "lamem"
    for e in m["runs"]:
        assert e["command_exact"]
        assert e["command"].startswith(f"memscore score --model {e['model']} --benchmark lamem-pls")
        assert "--limit 100" in e["command"] and "--weights none" in e["command"]
        # the run file exactly as stored
        stored = next((Path(made[1]) / "runs").rglob(Path(e["file"]).name)).read_bytes()
        assert b.members[e["file"]] == stored

    report = verify_bundle(path, data_roots={"lamem-pls": root}, progress=False)
    assert report.ok, report.failures()
    checks = {(r["run"].split(" ")[0], r["check"]): r["status"] for r in report.rows}
    for model in RUNS:
        for check in ("sha256", "schema", "manifest", "key", "seal", "consistency", "versions", "data"):
            assert checks[(model, check)] == "ok", (model, check, report.rows)
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True

    # no data here: the data check is skipped, not failed
    report = verify_bundle(path, progress=False)
    assert report.ok
    data = [r for r in report.rows if r["check"] == "data"]
    assert data and all(r["status"] == "skipped" and "not checked (no data at" in r["detail"] for r in data)


def test_schema_validates_run_files_and_rejects_broken_ones(made):
    _, home, path = made
    run_file = next((home / "runs").rglob("*.json"))
    doc = json.loads(run_file.read_text())
    assert schema_errors(doc, "run") == []
    assert schema_errors(json.loads(_members(path)["manifest.json"]), "bundle") == []
    for edit, where in ((lambda d: d["meta"].pop("key"), "/meta"), (lambda d: d.update(value="0.9"), "/value"),
                        (lambda d: d["layers"][0].pop("layer"), "/layers/0"),
                        (lambda d: d["meta"]["config"].update(seed="zero"), "/meta/config/seed")):
        broken = json.loads(run_file.read_text())
        edit(broken)
        errors = schema_errors(broken, "run")
        assert errors and errors[0].startswith(f"at {where}"), errors


def test_an_edited_value_or_config_fails_naming_the_run(made, tmp_path):
    root, _, path = made
    bad = tmp_path / "value.zip"
    entry = _rewrite(path, bad, "resnet18", lambda d: d.update(value=d["value"] + 0.05))
    report = verify_bundle(bad, data_roots={"lamem-pls": root}, progress=False)
    fails = _failed(report, "resnet18")
    assert [r["check"] for r in fails] == ["seal", "consistency"], report.failures()
    assert entry["run_id"][:12] in fails[0]["run"] and entry["file"] in fails[0]["run"]
    assert "edited after it was stored" in fails[0]["detail"] and "is not the value" in fails[1]["detail"]
    assert not _failed(report, "alexnet")

    bad = tmp_path / "config.zip"
    _rewrite(path, bad, "alexnet", lambda d: d["meta"]["config"].update(limit=90), reseal=True)
    report = verify_bundle(bad, data_roots={"lamem-pls": root}, progress=False)
    assert [r["check"] for r in _failed(report, "alexnet")] == ["key"], report.failures()
    assert not _failed(report, "resnet18")


def test_a_file_changed_behind_its_hash_fails(made, tmp_path):
    _, _, path = made
    bad = tmp_path / "hash.zip"
    entry = _rewrite(path, bad, "alexnet", lambda d: d["meta"].update(device="gpu"), fix_manifest=False,
                     reseal=True)
    report = verify_bundle(bad, progress=False)
    assert [r["check"] for r in _failed(report, "alexnet")] == ["sha256"]
    result = CliRunner().invoke(main, ["verify", str(bad), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and entry["run_id"][:12] in result.output and "sha256" in result.output


def test_a_consistently_changed_value_is_caught_by_rescoring(made, tmp_path):
    root, _, path = made
    bad = tmp_path / "consistent.zip"

    def edit(doc):
        doc["value"] += 0.01
        doc["raw"] = doc["value"]
        next(r for r in doc["layers"] if r["layer"] == doc["meta"]["layer"])["value"] = doc["value"]

    _rewrite(path, bad, "resnet18", edit, reseal=True)
    assert verify_bundle(bad, data_roots={"lamem-pls": root}, progress=False).ok  # consistent: only a re-run sees it
    result = CliRunner().invoke(main, ["verify", str(bad), "--rescore", "2", "--data-root", f"lamem-pls={root}",
                                       "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)  # notices go to stderr
    assert report["rescored"] == 2 and report["tolerance_kind"] == "absolute"
    rescore = {r["run"].split(" ")[0]: r for r in report["rows"] if r["check"] == "rescore"}
    assert rescore["resnet18"]["status"] == "fail" and "re-scored" in rescore["resnet18"]["detail"]
    assert rescore["alexnet"]["status"] == "ok", rescore["alexnet"]  # the untouched run reproduces


def test_other_data_is_reported(made, tmp_path):
    root, _, path = made
    mine = tmp_path / "lamem"
    shutil.copytree(root, mine)
    f = mine / "splits" / "test_1.txt"
    lines = f.read_text().splitlines()
    name, value = lines[0].split()
    lines[0] = f"{name} {float(value) + 0.025:.6f}"
    f.write_text("\n".join(lines) + "\n")
    report = verify_bundle(path, data_roots={"lamem-pls": mine}, rescore=1, progress=False)
    data = [r for r in report.rows if r["check"] == "data"]
    assert len(data) == 2 and all(r["status"] == "fail" and r["detail"].startswith("data differs: bundle lamem:")
                                  and " vs yours lamem:" in r["detail"] for r in data), data
    assert report.rescored == 0  # runs on other data are never re-scored
    assert any(r["check"] == "rescore" and r["status"] == "warn" and "data is not yours" in r["detail"]
               for r in report.rows)


def test_broken_bundles_are_one_line(made, tmp_path):
    _, _, path = made
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    no_manifest = tmp_path / "nomanifest.zip"
    with zipfile.ZipFile(no_manifest, "w") as zf:
        zf.writestr("runs/x.json", "{}")
    bad_manifest = tmp_path / "badmanifest.zip"
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    del manifest["runs"][0]["sha256"]
    with zipfile.ZipFile(bad_manifest, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
    runner = CliRunner()
    for bundle, says in ((not_zip, "is not a zip file"), (no_manifest, "has no manifest.json"),
                         (bad_manifest, "manifest.json does not follow the bundle schema"),
                         (tmp_path / "missing.zip", "does not exist")):
        result = runner.invoke(main, ["verify", str(bundle)])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0] and str(bundle) in lines[0]
        with pytest.raises(BundleError):
            read_bundle(bundle)
    # several bundles: a broken one is one line, the others are still checked
    result = runner.invoke(main, ["verify", str(not_zip), str(path), "--no-progress"])
    assert result.exit_code == 1 and "error: bundle" in result.stderr and f"{path}: ok" in result.stdout


def test_official_checksums_of_brainscore_data_are_named():
    from memscore.bundle import VerifyReport, _Run
    from memscore.verify import _official_data

    score = memscore.Score("resnet18", "neural-it", "1", 0.5,
                           meta={"data": {"name": "MajajHong2015.public", "fingerprint": "ab"}})
    report = VerifyReport("b.zip", 1e-4)
    _official_data([_Run({}, "run", score)], report)
    [row] = report.rows
    assert row["check"] == "official data" and row["status"] == "skipped"
    assert "assy_dicarlo_MajajHong2015_public.nc 13d28ca0ce" in row["detail"]


def test_bundle_command(made, tmp_path, monkeypatch):
    root, home, _ = made
    runner = CliRunner()
    empty = runner.invoke(main, ["bundle", "--out", str(tmp_path / "none.zip")])  # this test's own empty home
    assert empty.exit_code == 1 and empty.output.startswith("error: no stored results")
    monkeypatch.setenv("MEMSCORE_HOME", str(home))
    out = tmp_path / "resnets.zip"
    result = runner.invoke(main, ["bundle", "--out", str(out), "--tag", "resnet", "--benchmarks", "lamem-pls"])
    assert result.exit_code == 0, result.output
    b = read_bundle(out)
    assert [s.model for s in b.scores] == ["resnet18"]
    assert b.manifest["command_lines"] == [f"memscore bundle --out {out} --benchmarks lamem-pls --tag resnet"]
    again = runner.invoke(main, ["bundle", "--out", str(out), "--models", "alexnet"])
    assert again.exit_code == 1 and "exists already; pass --force" in again.output
    assert runner.invoke(main, ["bundle", "--out", str(out), "--models", "alexnet", "--force"]).exit_code == 0
    assert [s.model for s in read_bundle(out).scores] == ["alexnet"]
    result = runner.invoke(main, ["verify", str(out), "--data-root", f"lamem-pls={root}", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert ": ok — 1 runs, 0 failed" in result.output


# ---------------------------------------------------------------------------------------------
# runs from elsewhere are checked on the way into a board or a store
# ---------------------------------------------------------------------------------------------
def test_board_from_a_tampered_bundle_leaves_the_run_out_and_names_it(made, tmp_path, monkeypatch):
    _, home, path = made
    bad = tmp_path / "tampered.zip"
    entry = _rewrite(path, bad, "resnet18", lambda d: d.update(value=0.9), fix_manifest=False)
    monkeypatch.setenv("MEMSCORE_HOME", str(tmp_path / "empty-home"))
    r = CliRunner().invoke(main, ["leaderboard", "--from", str(bad), "--format", "json", "--include-smoke"])
    assert r.exit_code == 0, r.output
    board = json.loads(r.stdout)
    assert [m["model"] for m in board["models"]] == ["alexnet"]  # the untouched run stays
    [note] = [n for n in board["notes"] if n.startswith("left out")]
    assert "resnet18" in note and entry["run_id"][:12] in note and "sha256" in note
    table = CliRunner().invoke(main, ["leaderboard", "--from", str(bad), "--include-smoke"])
    assert table.exit_code == 0 and "left out resnet18" in table.output and "0.9000" not in table.output
    site = CliRunner().invoke(main, ["leaderboard", "--from", str(bad), "--include-smoke", "--format", "html",
                                     "--out", str(tmp_path / "site")])
    assert site.exit_code == 0, site.output
    index = (tmp_path / "site" / "index.html").read_text()
    assert "left out resnet18" in index.split('id="board-data"')[0]  # said on the page, not only in its data


def test_a_forged_run_with_a_local_key_does_not_replace_the_local_value(made, tmp_path):
    _, home, path = made
    local = {s.model: s for s in ResultStore(home).query()}

    def forge(doc):  # consistent, resealed, newer: passes every cheap check
        doc["value"] += 0.2
        doc["raw"] = doc["value"]
        next(r for r in doc["layers"] if r["layer"] == doc["meta"]["layer"])["value"] = doc["value"]
        doc["meta"]["created"] += 1000
        doc["meta"]["run_id"] = "f" * 32

    forged = tmp_path / "forged.zip"
    _rewrite(path, forged, "alexnet", forge, reseal=True)
    board = build_board(store=ResultStore(home), bundles=[forged], include_smoke=True)
    shown = {m["model"]: next(iter(m["scores"].values()))["value"] for m in board["models"]}
    # parameters come with the run (counted when it was scored), so every board has them
    assert {m["model"]: m["params"] for m in board["models"]} == {"alexnet": 61100840, "resnet18": 11689512}
    assert shown["alexnet"] == pytest.approx(local["alexnet"].value, abs=1e-12)
    [d] = board["disagreements"]
    assert d["model"] == "alexnet" and d["shown"]["source"] == "local store"
    assert d["others"][0]["value"] == pytest.approx(local["alexnet"].value + 0.2)
    assert d["others"][0]["source"] == f"bundle {forged}" and d["others"][0]["run_id"] == "f" * 32
    assert any(n.startswith("runs of one key disagree: alexnet") for n in board["notes"])
    # two bundles: the first given wins; the same run twice is no disagreement
    board = build_board(store=False, bundles=[path, forged, path], include_smoke=True)
    assert {m["model"]: next(iter(m["scores"].values()))["value"] for m in board["models"]}["alexnet"] == \
        pytest.approx(local["alexnet"].value, abs=1e-12)
    assert len(board["disagreements"]) == 1


def test_an_edited_run_file_is_not_collected_and_never_served(made, tmp_path, monkeypatch):
    root, home, _ = made
    mine = tmp_path / "home"
    shutil.copytree(home, mine)
    monkeypatch.setenv("MEMSCORE_HOME", str(mine))
    original = next(s for s in ResultStore(mine).query() if s.model == "resnet18")
    src = next((mine / "runs" / "lamem-pls").glob("resnet18--*.json"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for i, (field, reseal_it) in enumerate((("value", False), ("value", True))):
        doc = json.loads(src.read_text())
        doc["value"] = 0.95
        doc["meta"]["run_id"] = f"{i + 1:x}" * 32
        doc["meta"]["created"] += 100 + i
        if reseal_it:
            doc["meta"]["seal"] = seal(doc)
        (incoming / f"edited{i}.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["collect", str(incoming)])
    assert r.exit_code == 0, r.output
    skipped = [line for line in r.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 and all("integrity" in line for line in skipped), r.stderr
    assert "seal" in skipped[0] and "consistency" in skipped[1]
    again = memscore.score("resnet18", "lamem-pls", weights="none", data_root=root, device="cpu", progress=False,
                           limit=100, benchmark_args={**ARGS, **RUNS["resnet18"]})
    assert again.meta.get("from_store") and again.value == original.value
    assert again.meta["run_id"] == original.meta["run_id"]
    # --rebuild reads runs/ afresh: an edited file dropped there is left out too
    doc = json.loads(src.read_text())
    doc.update(value=0.95)
    doc["meta"].update(run_id="c" * 32, created=doc["meta"]["created"] + 500)
    (src.parent / "resnet18--edited--cccccccccccc.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["collect", "--rebuild"])
    assert r.exit_code == 0 and "resnet18--edited" in r.stderr and "1 skipped" in r.stdout, r.output
    assert ResultStore(mine).get(original.meta["key"]).meta["run_id"] == original.meta["run_id"]


def test_a_forged_run_of_a_stored_key_is_not_collected_as_current(made, tmp_path, monkeypatch):
    """A consistent, resealed, newer run of a key the store holds (what a forger who knows the recipe
    makes) passes the integrity checks but does not replace the stored run: one key, two runs."""
    _, home, _ = made
    mine = tmp_path / "home"
    shutil.copytree(home, mine)
    monkeypatch.setenv("MEMSCORE_HOME", str(mine))
    original = next(s for s in ResultStore(mine).query() if s.model == "alexnet")
    doc = json.loads(next((mine / "runs" / "lamem-pls").glob("alexnet--*.json")).read_text())
    doc["value"] += 0.2
    doc["raw"] = doc["value"]
    next(r for r in doc["layers"] if r["layer"] == doc["meta"]["layer"])["value"] = doc["value"]
    doc["meta"].update(run_id="e" * 32, created=doc["meta"]["created"] + 1000)
    doc["meta"]["seal"] = seal(doc)
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "forged.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["collect", str(tmp_path / "incoming")])
    assert r.exit_code == 0 and "left out: its key has a stored run" in r.stderr, r.output
    assert ResultStore(mine).get(original.meta["key"]).meta["run_id"] == original.meta["run_id"]
    assert not list((mine / "runs").rglob("*eeeeeeeeeeee.json"))  # no copy that a --rebuild would promote


def _zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:  # two members of one name are written as such
                f.write(data)
    return path


def test_bundles_are_read_bounded_and_strictly(made, tmp_path, monkeypatch):
    import memscore.bundle as bundle_mod

    _, _, path = made
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    runs = [(n, b) for n, b in members.items() if n != "manifest.json"]
    cases = {
        "duplicate": ([("manifest.json", members["manifest.json"]), *runs, runs[0]], "appears twice"),
        "unlisted": ([("manifest.json", members["manifest.json"]), *runs, ("runs/x/evil.json", b"{}")],
                     "not listed in manifest.json"),
        "dupkey": ([("manifest.json", members["manifest.json"][:-1] + b', "format": "memscore-bundle"}'), *runs],
                   "duplicate key 'format'"),
    }
    # a zip bomb: a member of 8 MB of zeros (8 kB in the zip) where the manifest gives no size
    no_size = json.loads(members["manifest.json"])
    no_size["runs"][0].pop("size")
    bomb = [("manifest.json", json.dumps(no_size).encode()), (no_size["runs"][0]["file"], bytes(8 << 20)),
            *runs[1:]]
    cases["bomb"] = (bomb, "more than a run file may be")
    cases["manifest bomb"] = ([("manifest.json", b" " * (3 << 20) + members["manifest.json"])], "refused")
    monkeypatch.setattr(bundle_mod, "MAX_MEMBER", 1 << 20)
    monkeypatch.setattr(bundle_mod, "MAX_MANIFEST", 2 << 20)
    for name, (content, says) in cases.items():
        bad = _zip(tmp_path / f"{name.replace(' ', '_')}.zip", content)
        assert bad.stat().st_size < 200_000
        for argv in (["verify", str(bad)], ["leaderboard", "--from", str(bad)]):
            r = CliRunner().invoke(main, argv)
            lines = r.output.strip().splitlines()
            assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: bundle"), (name, r.output)
            assert says in lines[0], (name, lines[0])
    # a member inflating beyond the size its manifest gives fails that run only, read no further than that
    entry = manifest["runs"][0]
    grown = _zip(tmp_path / "grown.zip", [("manifest.json", members["manifest.json"]),
                                          (entry["file"], bytes(8 << 20)), *runs[1:]])
    report = verify_bundle(grown, progress=False)
    assert [(r["check"], r["status"]) for r in report.failures()] == [("size", "fail")]
    assert f"larger than the {entry['size']} bytes" in report.failures()[0]["detail"]


def test_verify_rescore_without_data_exits_1(made, tmp_path, monkeypatch):
    _, _, path = made
    monkeypatch.chdir(tmp_path)  # no LaMem where `memscore score` looks by default
    r = CliRunner().invoke(main, ["verify", str(path), "--rescore", "2", "--no-progress", "--json"])
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    assert report["rescored"] == 0
    [row] = [x for x in report["rows"] if x["check"] == "rescore" and x["status"] == "fail"]
    assert "re-scored 0 of the 2 runs asked" in row["detail"] and "--data-root" in row["detail"]
