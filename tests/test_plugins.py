"""Plugin discovery through real entry points; duplicates; broken plugins; MEMSCORE_PLUGINS."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memscore.errors import DuplicateNameError, UnknownNameError
from memscore.pluginmanager import Plugins
from memscore.registry import Registry
from plugin_dist import write_distribution


def run_cli(*args, env_extra=None, check=True):
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-m", "memscore.cli", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


@pytest.fixture
def toy_path(tmp_path):
    return str(write_distribution(tmp_path / "site"))


def test_entry_point_plugin_is_listed_and_scores(toy_path):
    env = {"PYTHONPATH": toy_path}
    plugins = json.loads(run_cli("plugins", "--json", env_extra=env).stdout)
    toy = next(p for p in plugins if p["name"] == "memscore_toy")
    assert toy["version"] == "0.3" and toy["error"] == ""
    assert toy["registered"] == {"models": ["tiny-net"], "benchmarks": ["param-count"]}

    models = json.loads(run_cli("list", "models", "--json", env_extra=env).stdout)
    entry = next(m for m in models if m["name"] == "tiny-net")
    assert entry["plugin"] == "memscore_toy" and entry["tags"] == ["toy"] and entry["available"] is True
    assert {"name", "description", "plugin", "tags", "available"} <= set(entry)

    out = run_cli("score", "--model", "tiny-net", "--benchmark", "param-count", "--weights", "none",
                  "--benchmark-args", "scale=2", "--format", "json", env_extra=env).stdout
    result = json.loads(out)
    # 3*4*3*3 + 4 (conv) + 64*10 + 10 (fc) = 762 parameters, scaled by 2
    assert result["value"] == 2 * 762
    assert result["benchmark_version"] == "7" and result["model"] == "tiny-net"
    # fc has 10 units (< 24): not scoreable
    assert [r["layer"] for r in result["layers"]] == ["conv", "pool"]
    assert result["meta"]["seed"] == 0 and result["meta"]["weights"] == "none"
    assert result["meta"]["benchmark_plugin"] == "memscore_toy"
    for key in ("value", "error", "ceiling", "raw", "layers", "meta", "benchmark"):
        assert key in result


def test_list_models_imports_no_torch(toy_path):
    code = ("import sys, memscore.cli as c\n"
            "try:\n c.main(['list','models','--json'])\nexcept SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": toy_path})
    assert proc.stderr.strip().endswith("NOTORCH"), proc.stderr
    assert any(m["name"] == "resnet18" for m in json.loads(proc.stdout))


def test_unknown_name_did_you_mean(toy_path):
    proc = run_cli("score", "--model", "tiny-nett", "--benchmark", "param-count", env_extra={"PYTHONPATH": toy_path},
                   check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'tiny-nett'" in lines[0] and "'tiny-net'" in lines[0]


def test_broken_plugin_is_reported_and_skipped(tmp_path):
    broken = write_distribution(tmp_path / "site", name="memscore_broken", source="raise ImportError('no gpu lib')\n")
    env = {"PYTHONPATH": str(broken)}
    plugins = json.loads(run_cli("plugins", "--json", env_extra=env).stdout)
    bad = next(p for p in plugins if p["name"] == "memscore_broken")
    assert "import failed" in bad["error"] and "no gpu lib" in bad["error"]
    models = json.loads(run_cli("list", "models", "--json", env_extra=env).stdout)
    assert any(m["name"] == "resnet18" for m in models)  # the others still work


def test_memscore_plugins_env_restricts(toy_path):
    env = {"PYTHONPATH": toy_path, "MEMSCORE_PLUGINS": "memscore_toy"}
    names = [m["name"] for m in json.loads(run_cli("list", "models", "--json", env_extra=env).stdout)]
    assert names == ["tiny-net"]


def test_duplicate_name_names_both_plugins(tmp_path):
    src = ("from memscore import hookimpl\n"
           "@hookimpl\ndef register_models(register):\n    register('twin-net', 'x:y', description='one of two')\n"
           "    register('{own}', 'x:y')\n")
    site = tmp_path / "site"
    write_distribution(site, name="memscore_dup_a", source=src.format(own="net-a"))
    write_distribution(site, name="memscore_dup_b", source=src.format(own="net-b"))
    env = {"PYTHONPATH": str(site)}
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env_extra=env).stdout)}
    # plugins load in name order, so the second to claim the name carries the error
    err = plugins["memscore_dup_b"]["error"]
    assert "'twin-net'" in err and "'memscore_dup_a'" in err and "'memscore_dup_b'" in err
    assert plugins["memscore_dup_a"]["registered"] == {"models": ["net-a", "twin-net"]}
    assert plugins["memscore_dup_b"]["registered"] == {"models": ["net-b"]}  # the rest of its hook ran
    proc = run_cli("score", "-m", "twin-net", "-b", "lamem-pls", env_extra=env, check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip() == ("error: model 'twin-net' is registered by both plugin 'memscore_dup_a' and "
                                   "plugin 'memscore_dup_b'; uninstall one or restrict with MEMSCORE_PLUGINS")
    listed = {m["name"]: m for m in json.loads(run_cli("list", "models", "--json", env_extra=env).stdout)}
    assert listed["twin-net"]["available"] is False


def test_registry_prefix_resolution_and_lazy_factory():
    reg = Registry()
    r = reg.registrar("model", "p")
    r.prefix("fam", "json:dumps", description="family")
    r("plain", "json:dumps", params={"sort_keys": True})
    entry, args = reg.get("model", "fam:anything")
    assert entry.prefix and args == ("anything",)
    assert entry.create(*args) == '"anything"'
    e2, args2 = reg.get("model", "plain")
    assert e2.create({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    with pytest.raises(UnknownNameError, match="did you mean 'plain'"):
        reg.get("model", "plan")
    with pytest.raises(DuplicateNameError, match="both plugin 'p' and plugin 'q'"):
        reg.registrar("model", "q")("plain", "json:loads")


def test_hook_error_is_recorded():
    class Bad:
        from memscore import hookimpl

        @hookimpl
        def register_models(self, register):
            raise RuntimeError("boom")

    plugins = Plugins()
    info = plugins.add("bad", Bad())
    assert info.error == "RuntimeError: boom"


def test_plugin_template_installs_and_registers(tmp_path):
    """The template in examples/ pip-installs as a real distribution and its model scores."""
    from pathlib import Path

    template = Path(__file__).resolve().parents[1] / "examples" / "plugin-template"
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(template)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    env = {"PYTHONPATH": str(target)}
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env_extra=env).stdout)}
    assert plugins["my_plugin"]["registered"] == {"models": ["my-net"], "benchmarks": ["image-scores"],
                                                  "metrics": ["ridge"]}
    assert plugins["my_plugin"]["distribution"] == "my-memscore-plugin"
    code = ("import memscore; m = memscore.load_model('my-net', weights='none');"
            "print(m.layers(), m.penultimate_layer)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True).stdout
    # the Flatten ('5') hands on the pooled tensor unmodified: an alias of '4', not a layer of its own
    assert "['0', '1', '2', '3', '4', '6']" in out and out.strip().endswith("4")
    # the template's own tests: the kit on its model and benchmark, sklearn on its metric
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(template)],
                          capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert proc.returncode == 0 and "3 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
