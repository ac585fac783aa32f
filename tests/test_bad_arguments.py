"""Every bad argument or option ends in one line naming it, the value and what is valid — before any
work, with no traceback, and with every stored result left as it was."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from lamem_fixture import build_lamem
from memscore.cli import main
from memscore.scores import Score
from memscore.store import ResultStore


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_lamem(tmp_path_factory.mktemp("lamem"), 60, image_size=32)


@pytest.fixture
def stored(memscore_home):
    st = ResultStore()
    st.put(Score("m", "lamem-pls", "1", 0.5, layers=[{"layer": "a", "value": 0.5}]), "some-key")
    return lambda: (sorted((s.meta["run_id"], s.value) for s in ResultStore().query(all_versions=True)),
                    sorted(p.name for p in (memscore_home / "runs").rglob("*")))


def _bargs(*items):
    return ["--benchmark-args", ",".join(items)]


CASES = {
    # lamem-pls: declared arguments
    "image_size=abc": (["-b", "lamem-pls", *_bargs("image_size=abc")], "image_size=abc: expected an integer"),
    "image_size=3": (["-b", "lamem-pls", *_bargs("image_size=3")], "image_size=3: expected an integer from 8"),
    "pca=-1": (["-b", "lamem-pls", *_bargs("pca=-1")], "pca=-1: expected an integer >= 0"),
    "reference_size=0": (["-b", "lamem-pls", *_bargs("reference_size=0")], "reference_size=0: expected an integer >= 2"),
    "n_components=abc": (["-b", "lamem-pls", *_bargs("n_components=abc")], "n_components=abc: expected an integer"),
    "n_components=0": (["-b", "lamem-pls", *_bargs("n_components=0")], "n_components=0: expected an integer >= 1"),
    "n_components=2.5": (["-b", "lamem-pls", *_bargs("n_components=2.5")], "n_components=2.5: expected an integer"),
    "min_units=abc": (["-b", "lamem-pls", *_bargs("min_units=abc")], "min_units=abc: expected an integer"),
    "splits=abc": (["-b", "lamem-pls", *_bargs("splits=abc")], "splits=abc: expected split numbers 1..5"),
    "splits=0": (["-b", "lamem-pls", *_bargs("splits=0")], "splits=0: expected split numbers 1..5"),
    "splits=1,6": (["-b", "lamem-pls", *_bargs("splits=1,6")], "splits=1,6: expected split numbers 1..5"),
    "reference=missing": (["-b", "lamem-pls", *_bargs("reference=/no/such/folder")],
                          "reference=/no/such/folder: expected a folder of images"),
    "layers=nosuchlayer": (["-b", "lamem-pls", *_bargs("layers=nosuchlayer")], "has no layer 'nosuchlayer'"),
    "layers=close": (["-b", "lamem-pls", *_bargs("layers=layer4.2")], "did you mean"),
    "unknown key": (["-b", "lamem-pls", *_bargs("n_component=3")], "unknown key 'n_component'; did you mean 'n_components'"),
    "empty key": (["-b", "lamem-pls", *_bargs("=3")], "empty key"),
    "not key=value": (["-b", "lamem-pls", "--benchmark-args", "abc"], "'abc' is not key=value"),
    # neural-*: declared arguments, the fixed region
    "visual_degrees=0": (["-b", "neural-it", *_bargs("visual_degrees=0")], "visual_degrees=0: expected a number from 0.1"),
    "visual_degrees=abc": (["-b", "neural-it", *_bargs("visual_degrees=abc")], "visual_degrees=abc: expected a number"),
    "visual_degrees=inf": (["-b", "neural-it", *_bargs("visual_degrees=inf")], "visual_degrees=inf: expected a number"),
    "region fixed": (["-b", "neural-it", *_bargs("region=V1")], "region is fixed to 'IT'"),
    "time_window=abc": (["-b", "neural-v4", *_bargs("time_window=abc")], "time_window=abc: expected <start>-<end> in ms"),
    "time_window reversed": (["-b", "neural-v4", *_bargs("time_window=170-70")], "the end must come after the start"),
    "ceiling=bogus": (["-b", "neural-v1", *_bargs("ceiling=bogus")], "ceiling=bogus: expected one of split-half, none"),
    "source=bogus": (["-b", "neural-v2", *_bargs("source=web")], "source=web: expected one of local, brainscore"),
    "neural folds=1": (["-b", "neural-it", *_bargs("folds=1")], "folds=1: expected an integer from 2"),
    "neural splits (lamem's word)": (["-b", "neural-it", *_bargs("splits=5")], "unknown key 'splits'"),
    "dataset=missing.json": (["-b", "neural-it", *_bargs("dataset=/no/such.json")], "no manifest file /no/such.json"),
    # lamem-it forwards neural_<key> to neural-it, validated the same way
    "neural_visual_degrees=abc": (["-b", "lamem-it", *_bargs("neural_visual_degrees=abc")],
                                  "neural_visual_degrees=abc: expected a number"),
    "neural_bogus": (["-b", "lamem-it", *_bargs("neural_bogus=1")], "unknown key 'neural_bogus'"),
    "neural_data_root missing": (["-b", "lamem-it", *_bargs("neural_data_root=/no/such")],
                                 "neural_data_root=/no/such: expected a folder"),
    # lamem-finetune
    "epochs=abc": (["-b", "lamem-finetune", *_bargs("epochs=abc")], "epochs=abc: expected an integer"),
    "nesterov=maybe": (["-b", "lamem-finetune", *_bargs("nesterov=maybe")], "nesterov=maybe: expected true or false"),
    # run options
    "--device tpu": (["-b", "lamem-pls", "--device", "tpu"], "--device tpu"),
    "--device mps": (["-b", "lamem-pls", "--device", "mps"], "--device mps: memscore runs on cpu or cuda"),
    "--device cuda:9": (["-b", "lamem-pls", "--device", "cuda:9"], "--device cuda:9"),
    "--device nonsense": (["-b", "lamem-pls", "--device", "gpu-please"], "--device gpu-please: not a device"),
    "--data-root file": (["-b", "lamem-pls", "--data-root", "{file}"], "is a file, not a folder"),
    "--data-root missing": (["-b", "lamem-pls", "--data-root", "/no/such/lamem"], "/no/such/lamem does not exist"),
    # names
    "unknown model": (["-b", "lamem-pls", "-m", "resnet181"], "unknown model 'resnet181'; did you mean"),
    "unknown benchmark": (["-b", "lamem-plss"], "unknown benchmark 'lamem-plss'; did you mean 'lamem-pls'"),
    "unknown torchvision model": (["-b", "lamem-pls", "-m", "torchvision:resnet1800"], "unknown model"),
    # model args and weights
    "model args unknown": (["-b", "lamem-pls", "--model-args", "bogus=1"], "--model-args"),
    "cornet times=abc": (["-b", "lamem-pls", "-m", "cornet-r", "--model-args", "times=abc"], "times=abc"),
    "weights missing": (["-b", "lamem-pls", "--weights", "/no/such/weights.pt"], "/no/such/weights.pt"),
    "weights garbage": (["-b", "lamem-pls", "--weights", "{garbage}"], "not a readable PyTorch checkpoint"),
    "--limit too small": (["-b", "lamem-pls", "--limit", "10"], "--limit too small"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_argument_is_one_line(name, tree, stored, tmp_path):
    args, needle = CASES[name]
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("x")
    argv = ["score", "-m", "torchvision:resnet18", "--weights", "none", "--no-progress"]
    argv += [] if "--data-root" in args else ["--data-root", str(tree)]  # two unnamed roots are an error of their own
    argv += [a.format(file=a_file, garbage=garbage) for a in args]
    before = stored()
    r = CliRunner().invoke(main, argv)
    out = r.output.strip()
    assert r.exit_code not in (0, None) and not isinstance(r.exception, (AssertionError, TypeError)) \
        and r.exit_code in (1, 2), (r.exit_code, out, r.exception)
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert needle in lines[0], out
    assert stored() == before
