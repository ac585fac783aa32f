"""Misbehaving third-party plugins: exits, interrupts, argv parsing, printing, slow imports, unknown names in
MEMSCORE_PLUGINS, and names that collide with another plugin's prefix family.

Every plugin here is a real throwaway distribution (tests/plugin_dist.py) found through the ``memscore``
entry-point group of a ``python -m memscore.cli`` subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memscore.errors import DuplicateNameError
from memscore.hookspecs import hookimpl
from memscore.pluginmanager import Plugins, PluginAbort
from memscore.registry import Registry
from plugin_dist import write_distribution


def run_cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "MEMSCORE_PLUGINS"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "memscore.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def assert_clean(proc, json_out=True):
    """Exit 0, stdout is JSON (when asked for), no traceback on stderr; returns the parsed stdout."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout) if json_out else proc.stdout


HOOK = "from memscore import hookimpl\n@hookimpl\ndef register_models(register):\n"

#: (module source, what its one-line error must contain)
BAD = {
    "exit_at_import": ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
    "systemexit_message": ("raise SystemExit('cannot run here')\n", "sys.exit('cannot run here')"),
    "keyboardinterrupt_at_import": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "generatorexit_at_import": ("raise GeneratorExit('odd')\n", "GeneratorExit: odd"),
    # memscore's own argv ('plugins', '--json', ...) is not this parser's: argparse errors and exits 2
    "argparse_at_import": ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--gpus', type=int)\n"
                           "ARGS = p.parse_args()\n", "sys.exit(2)"),
    "exit_in_hook": (HOOK + "    register('ok-before-exit', 'x:y')\n    import sys; sys.exit(5)\n", "sys.exit(5)"),
    "interrupt_in_hook": (HOOK + "    raise KeyboardInterrupt('from the plugin')\n",
                          "KeyboardInterrupt: from the plugin"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_plugin_that_exits_or_interrupts_is_reported_and_skipped(tmp_path, case):
    source, expected = BAD[case]
    site = write_distribution(tmp_path / "site", name=f"memscore_bad_{case}",
                              source="print('chatter from the plugin on stdout')\n" + source)
    write_distribution(site)  # a good third-party plugin next to it
    env = {"PYTHONPATH": str(site)}

    plugins = {p["name"]: p for p in assert_clean(run_cli("plugins", "--json", env_extra=env))}
    bad = plugins[f"memscore_bad_{case}"]
    assert expected in bad["error"] and "\n" not in bad["error"], bad
    if "hook" not in case:
        assert bad["error"].startswith("import failed: ")
    assert plugins["memscore_toy"]["error"] == "" and plugins["zoo"]["error"] == ""

    text = assert_clean(run_cli("plugins", env_extra=env), json_out=False)
    line = next(ln for ln in text.splitlines() if ln.startswith(f"memscore_bad_{case} "))
    assert "error: " in line and expected in line
    assert "chatter" not in text

    proc = run_cli("list", "models", "--json", env_extra=env)
    names = {m["name"] for m in assert_clean(proc)}
    assert {"resnet18", "tiny-net", "torchvision:<name>"} <= names
    assert "chatter from the plugin on stdout" in proc.stderr  # moved to stderr, not lost
    if case == "exit_in_hook":  # what the hook registered before it exited stays
        assert "ok-before-exit" in names


def test_exit_in_register_commands_hook_spares_the_cli(tmp_path):
    src = ("import sys\nfrom memscore import hookimpl\n"
           "@hookimpl\ndef register_commands(cli):\n    print('hello from commands')\n    sys.exit(4)\n")
    site = write_distribution(tmp_path / "site", name="memscore_cmdexit", source=src)
    env = {"PYTHONPATH": str(site)}
    proc = run_cli("plugins", "--json", env_extra=env)
    plugins = {p["name"]: p for p in assert_clean(proc)}
    assert "register_commands" in plugins["memscore_cmdexit"]["error"]
    assert "sys.exit(4)" in plugins["memscore_cmdexit"]["error"]
    assert plugins["finetune"]["registered"]["commands"] == ["predict"]  # other plugins' commands are there
    assert "hello from commands" in proc.stderr


def test_printing_plugin_keeps_json_valid(tmp_path):
    src = ("print('loading noisy plugin...')\nfrom memscore import hookimpl\n"
           "@hookimpl\ndef register_models(register):\n    print('registering!')\n"
           "    register('noisy-net', 'memscore_toy_impl:build', description='prints a lot')\n")
    site = write_distribution(tmp_path / "site", name="memscore_noisy", source=src)
    write_distribution(site)  # memscore_toy: gives a scoreable model and benchmark
    env = {"PYTHONPATH": str(site), "MEMSCORE_HOME": str(tmp_path / "home")}

    plugins = {p["name"]: p for p in assert_clean(run_cli("plugins", "--json", env_extra=env))}
    assert plugins["memscore_noisy"]["error"] == "" and plugins["memscore_noisy"]["registered"] == {
        "models": ["noisy-net"]}
    proc = run_cli("list", "models", "--json", env_extra=env)
    assert "noisy-net" in {m["name"] for m in assert_clean(proc)}
    assert "loading noisy plugin..." in proc.stderr and "registering!" in proc.stderr

    proc = run_cli("score", "-m", "tiny-net", "-b", "param-count", "--weights", "none", "--format", "json",
                   "--no-progress", env_extra=env)
    assert assert_clean(proc)["value"] == 762


def test_unknown_name_in_memscore_plugins_warns_and_loads_the_rest():
    proc = run_cli("list", "models", "--json", env_extra={"MEMSCORE_PLUGINS": "nosuch,torchvision"})
    assert [m["name"] for m in assert_clean(proc)] == ["torchvision:<name>"]
    lines = [ln for ln in proc.stderr.splitlines() if "nosuch" in ln]
    assert len(lines) == 1, proc.stderr
    assert "warning" in lines[0] and "'nosuch'" in lines[0]
    # lists what does exist, on the same line
    assert all(name in lines[0] for name in ("torchvision", "zoo", "timm", "lamem"))

    proc = run_cli("plugins", "--json", env_extra={"MEMSCORE_PLUGINS": "torchvision,zoo"})
    assert sorted(p["name"] for p in assert_clean(proc)) == ["torchvision", "zoo"]
    assert "warning" not in proc.stderr


def test_slow_import_is_flagged(tmp_path):
    src = "import time\ntime.sleep(1.2)\n" + HOOK + "    register('slow-net', 'x:y')\n"
    site = write_distribution(tmp_path / "site", name="memscore_slow", source=src)
    env = {"PYTHONPATH": str(site)}
    plugins = {p["name"]: p for p in assert_clean(run_cli("plugins", "--json", env_extra=env))}
    slow = plugins["memscore_slow"]
    assert slow["slow"] is True and slow["load_s"] >= 1.2 and slow["error"] == ""
    assert slow["registered"] == {"models": ["slow-net"]}
    assert plugins["torchvision"]["slow"] is False and plugins["torchvision"]["load_s"] < 1.0

    text = assert_clean(run_cli("plugins", env_extra=env), json_out=False)
    line = next(ln for ln in text.splitlines() if ln.startswith("memscore_slow "))
    assert "ok" in line and "slow import: 1." in line and line.rstrip().endswith(" s")
    assert not any("slow import" in ln for ln in text.splitlines() if not ln.startswith("memscore_slow "))

    # the threshold is an environment variable
    plugins = {p["name"]: p for p in assert_clean(
        run_cli("plugins", "--json", env_extra={**env, "MEMSCORE_SLOW_PLUGIN_S": "30"}))}
    assert plugins["memscore_slow"]["slow"] is False and plugins["memscore_slow"]["load_s"] >= 1.2


def test_real_ctrl_c_while_loading_still_interrupts(tmp_path):
    """SIGINT delivered during a plugin's import is the user's Ctrl-C, not a plugin failure."""
    src = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    site = write_distribution(tmp_path / "site", name="memscore_ctrlc", source=src)
    proc = run_cli("plugins", "--json", env_extra={"PYTHONPATH": str(site)})
    assert proc.returncode != 0 and proc.stdout == ""
    assert "KeyboardInterrupt" in proc.stderr


# --------------------------------------------------------------------------------------------- prefix families
def test_registry_exact_name_inside_another_plugins_prefix_both_orders():
    # prefix first
    reg = Registry()
    reg.registrar("model", "a").prefix("fam", "json:dumps")
    with pytest.raises(DuplicateNameError, match="'fam:x'") as err:
        reg.registrar("model", "b")("fam:x", "json:loads")
    assert "model 'fam:x' is registered by both plugin 'a' (its prefix 'fam:') and plugin 'b'; uninstall one " \
           "or restrict with MEMSCORE_PLUGINS" == str(err.value)
    with pytest.raises(DuplicateNameError, match="'a'.*'b'"):
        reg.get("model", "fam:x")
    entry, args = reg.get("model", "fam:y")  # the rest of the family still works
    assert entry.plugin == "a" and args == ("y",)
    listed = {e.name: e for e in reg.entries("model")}
    assert listed["fam:x"].available is False and "'a'" in listed["fam:x"].reason

    # exact name first, then another plugin's prefix
    reg = Registry()
    reg.registrar("model", "b")("fam:x", "json:loads")
    reg.registrar("model", "b")("other", "json:loads")
    with pytest.raises(DuplicateNameError) as err:
        reg.registrar("model", "a").prefix("fam", "json:dumps")
    assert str(err.value) == ("model 'fam:x' is registered by both plugin 'b' and plugin 'a' (its prefix 'fam:'); "
                              "uninstall one or restrict with MEMSCORE_PLUGINS")
    with pytest.raises(DuplicateNameError):
        reg.get("model", "fam:x")
    assert reg.get("model", "fam:z")[0].plugin == "a"  # the prefix was stored
    assert reg.get("model", "other")[0].available


def test_registry_same_plugin_prefix_and_exact_name_is_fine():
    for order in ("prefix-first", "exact-first"):
        reg = Registry()
        r = reg.registrar("model", "zoo", "1.0")
        if order == "prefix-first":
            r.prefix("timm", "json:dumps")
        r("timm:resnet50.a1_in1k", "json:loads", version="9")
        if order == "exact-first":
            r.prefix("timm", "json:dumps")
        exact, args = reg.get("model", "timm:resnet50.a1_in1k")
        assert exact.prefix is False and args == () and exact.available
        assert (exact.plugin, exact.version, exact.plugin_version) == ("zoo", "9", "1.0")
        assert reg.get("model", "timm:vit_tiny")[0].prefix
        assert reg.conflicts["model"] == {}


def test_registry_no_conflict_outside_the_family():
    reg = Registry()
    reg.registrar("model", "a").prefix("fam", "json:dumps")
    reg.registrar("model", "b")("fam", "json:loads")  # the bare name is no member of the family
    reg.registrar("model", "b")("famous:x", "json:loads")
    reg.registrar("benchmark", "b")("fam:x", "json:loads")  # another kind
    assert reg.get("model", "fam")[0].plugin == "b" and reg.get("model", "fam:q")[0].plugin == "a"
    assert all(not c for c in reg.conflicts.values())


@pytest.mark.parametrize("order", ["prefix-first", "exact-first"])
def test_third_party_name_in_another_plugins_family(tmp_path, order):
    # plugins load in entry-point name order: choose names so the prefix or the exact name comes first
    prefix_plugin, exact_plugin = (("memscore_fam_a", "memscore_fam_b") if order == "prefix-first"
                                   else ("memscore_fam_b", "memscore_fam_a"))
    site = tmp_path / "site"
    write_distribution(site, name=prefix_plugin,
                       source=HOOK + "    register.prefix('fam', 'x:y')\n    register('fam:own', 'x:y')\n")
    write_distribution(site, name=exact_plugin,
                       source=HOOK + "    register('fam:x', 'x:z')\n    register('solo', 'x:z')\n")
    env = {"PYTHONPATH": str(site)}
    plugins = {p["name"]: p for p in assert_clean(run_cli("plugins", "--json", env_extra=env))}
    second = exact_plugin if order == "prefix-first" else prefix_plugin
    err = plugins[second]["error"]
    assert "'fam:x'" in err and f"'{prefix_plugin}' (its prefix 'fam:')" in err and f"'{exact_plugin}'" in err
    assert "uninstall one or restrict with MEMSCORE_PLUGINS" in err
    first = prefix_plugin if order == "prefix-first" else exact_plugin
    assert plugins[first]["error"] == ""
    assert "solo" in plugins[exact_plugin]["registered"]["models"]
    assert "fam" in plugins[prefix_plugin]["registered"]["models"]

    listed = {m["name"]: m for m in assert_clean(run_cli("list", "models", "--json", env_extra=env))}
    assert listed["fam:x"]["available"] is False and listed["fam:<name>"]["available"] is True
    assert listed["fam:own"]["available"] is True  # the prefix plugin's own exact name is no conflict

    proc = run_cli("score", "-m", "fam:x", "-b", "lamem-pls", env_extra=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: model 'fam:x' is registered by both plugin")


def test_name_inside_a_builtin_family(tmp_path):
    """The example from the issue: a third party registers torchvision:resnet18."""
    site = write_distribution(tmp_path / "site", name="memscore_tvclash",
                              source=HOOK + "    register('torchvision:resnet18', 'x:y')\n")
    env = {"PYTHONPATH": str(site)}
    plugins = {p["name"]: p for p in assert_clean(run_cli("plugins", "--json", env_extra=env))}
    # plugins load in name order: memscore_tvclash first, so the built-in's prefix is the second claim
    assert plugins["memscore_tvclash"]["error"] == ""
    assert plugins["torchvision"]["error"] == (
        "model 'torchvision:resnet18' is registered by both plugin 'memscore_tvclash' and plugin 'torchvision' "
        "(its prefix 'torchvision:'); uninstall one or restrict with MEMSCORE_PLUGINS")
    assert plugins["torchvision"]["registered"] == {"models": ["torchvision"]}  # the family stays
    code = ("from memscore.pluginmanager import registry\n"
            "e, a = registry().get('model', 'torchvision:resnet34'); print(e.plugin, a)\n"
            "try:\n    registry().get('model', 'torchvision:resnet18')\n"
            "except Exception as exc:\n    print(type(exc).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout
    assert out.split("\n")[:2] == ["torchvision ('resnet34',)", "DuplicateNameError"]
    # restricting with MEMSCORE_PLUGINS resolves it, as the message says
    listed = {m["name"]: m for m in assert_clean(run_cli("list", "models", "--json", env_extra={
        **env, "MEMSCORE_PLUGINS": "memscore_tvclash"}))}
    assert listed["torchvision:resnet18"]["available"] is True


def test_entry_carries_plugin_and_distribution_version(tmp_path):
    site = write_distribution(tmp_path / "site")  # memscore_toy 0.3; its benchmark says version="7"
    listed = {e["name"]: e for e in assert_clean(run_cli("list", "benchmarks", "--json",
                                                         env_extra={"PYTHONPATH": str(site)}))}
    bench = listed["param-count"]
    assert (bench["plugin"], bench["version"], bench["plugin_version"]) == ("memscore_toy", "7", "0.3")
    models = {e["name"]: e for e in assert_clean(run_cli("list", "models", "--json",
                                                         env_extra={"PYTHONPATH": str(site)}))}
    assert (models["tiny-net"]["plugin"], models["tiny-net"]["version"],
            models["tiny-net"]["plugin_version"]) == ("memscore_toy", "0.3", "0.3")


# --------------------------------------------------------------------------------------------- in process
def test_in_process_hook_exit_interrupt_and_print(capsys):
    class Exits:
        @hookimpl
        def register_models(self, register):
            print("exiting now")
            raise SystemExit(7)

    class Interrupts:
        @hookimpl
        def register_metrics(self, register):
            raise KeyboardInterrupt

    class Fine:
        @hookimpl
        def register_models(self, register):
            print("fine here")
            register("fine-net", "x:y")

    plugins = Plugins()
    assert plugins.add("exits", Exits()).error == "SystemExit: the plugin called sys.exit(7)"
    assert plugins.add("interrupts", Interrupts()).error == "KeyboardInterrupt"
    assert plugins.add("fine", Fine()).registered == {"models": ["fine-net"]}
    out, err = capsys.readouterr()
    assert out == "" and "exiting now" in err and "fine here" in err
    # the guarded hook raises an Exception (cli.py's register_commands loop catches Exception)
    impl = next(i for i in plugins.pm.hook.register_models.get_hookimpls() if i.plugin_name == "exits")
    with pytest.raises(PluginAbort):
        impl.function(register=lambda *a, **k: None)
