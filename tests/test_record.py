"""The run record: one typed object owns the key and the provenance, and reads back from any stored run."""
from __future__ import annotations

from memscore.record import KEY_VERSION, RunRecord, key_of, key_of_run
from memscore.scores import Score


def _record(**kw):
    base = dict(model="resnet18", weights="default:IMAGENET1K_V1", benchmark="lamem-pls", version="3",
                config={"benchmark_args": {"pca": 16}, "model_args": {"x": 1}, "seed": 2, "limit": None},
                data={"name": "lamem", "fingerprint": "f" * 32, "label": "LaMem"},
                model_plugin=("memscore", "0.1.0"), benchmark_plugin=("memscore", "0.1.0"))
    return RunRecord(**{**base, **kw})


def test_the_key_is_the_one_recipe_and_reads_back_from_a_run():
    rec = _record()
    assert rec.key == key_of("resnet18", "default:IMAGENET1K_V1", "lamem-pls", "3", rec.config, "f" * 32,
                             ("memscore", "0.1.0"), ("memscore", "0.1.0"), KEY_VERSION)
    s = Score("resnet18", "lamem-pls", "3", 0.5, meta={**rec.provenance(), "run_id": "r1", "created": 5.0,
                                                       "seed": 2, "device": "cpu"})
    back = RunRecord.of(s)
    assert back.key == rec.key == key_of_run(s.to_dict())
    assert (back.run_id, back.created, back.device, back.seed) == ("r1", 5.0, "cpu", 2)
    # every input of the key changes it
    for change in (dict(model="resnet34"), dict(weights="none"), dict(version="4"), dict(benchmark="x"),
                   dict(config={**rec.config, "seed": 3}), dict(data={"fingerprint": "e" * 32}),
                   dict(model_plugin=("memscore", "0.2")), dict(benchmark_plugin=("other", "0.1.0"))):
        assert _record(**change).key != rec.key, change


def test_identity_row_column_and_smoke_come_from_the_record():
    rec = _record()
    assert rec.model_identity == ("resnet18", "default:IMAGENET1K_V1", '{"x": 1}', 2)
    assert rec.row == "resnet18@default:IMAGENET1K_V1,x=1"
    assert _record(weights="none", config={}, seed_recorded=7).row == "resnet18@none(seed=7)"
    assert rec.column[:3] == ("lamem-pls", "3", "f" * 32)
    assert _record(config={**rec.config, "model_args": {}}).column == rec.column  # model args are the row's
    assert _record(config={**rec.config, "benchmark_args": {"pca": 8}}).column != rec.column
    assert not rec.smoke and _record(config={**rec.config, "limit": 10}).smoke
    assert rec.setting("pca") == 16 and rec.setting("metric", "pls") == "pls"


def test_a_run_without_data_may_carry_the_first_key_form():
    s = Score("m", "b", "1", 0.1, meta={"weights": "default", "config": {}})
    assert RunRecord.of(s).key_versions == [KEY_VERSION, 1]
    s.meta["data"] = None
    assert RunRecord.of(s).key_versions == [KEY_VERSION]
