"""The static leaderboard site (memscore.board_html): escaped HTML, CSV round trip, one page per model/figure,
and in headless Chromium: no console errors from file://, sorting, filters, permalinks, XSS-safe names, plots."""
from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from memscore.board_html import safe_file_name, write_site

HOSTILE = "<img src=x onerror=alert(1)>"
BENCHES = ["lamem-pls", "neural-it", "neural-v4"]


def _profile(n: int, shift: float) -> list[dict]:
    return [{"layer": f"layer{i}", "depth": i / (n - 1), "value": round(shift + 0.1 * i - 0.012 * i * i, 4),
             "error": 0.01} for i in range(n)]


def make_board() -> dict:
    def model(mid, name, weights, tags, params, top1, n, vals, profiles):
        scores = {b: {"value": v, "error": 0.02, "raw": None if b == "lamem-pls" else round(v * 0.7, 4),
                      "ceiling": None if b == "lamem-pls" else 0.7, "layer": "layer3", "run_id": f"run-{b}"}
                  for b, v in zip(BENCHES, vals) if v is not None}
        return {"id": mid, "model": name, "weights": weights, "tags": tags, "params": params, "imagenet_top1": top1,
                "n_layers": n, "scores": scores, "committed": {"neural-it": "layer2"},
                "profiles": {b: _profile(n, 0.1 * k + 0.05 * len(name) % 0.3) for k, b in enumerate(profiles)}}

    return {
        "title": "memscore leaderboard", "memscore_version": "0.1.0", "generated": "2026-11-29T03:30:00+00:00",
        "benchmarks": [
            {"name": "lamem-pls", "description": "memorability <b>PLS</b>", "ceiling": False, "layerwise": True,
             "data": {"name": "lamem", "fingerprint": "ab12cd34ef56ab78", "counts": {"images": 58741}}},
            {"name": "neural-it", "description": "IT similarity", "ceiling": True, "layerwise": True,
             "data": {"name": "majaj-it", "fingerprint": "0123456789abcdef", "counts": {"images": 3200, "sites": 168}}},
            {"name": "neural-v4", "description": "V4\u2028similarity </script><script>alert(2)</script>", "ceiling": True, "layerwise": True, "data": None}],
        "models": [
            model("resnet18@none(seed=0)", "resnet18", "none(seed=0)", ["cnn", "harada2023"], 11689512, 69.76, 6,
                  [0.61, 0.42, 0.30], BENCHES),
            model(f"{HOSTILE}@imagenet", HOSTILE, "imagenet", ["vit"], 86_000_000, 81.1, 5, [0.55, 0.50, None],
                  ["lamem-pls", "neural-it"]),
            model('alexnet@ft "lamem" & more', "alexnet", 'ft "lamem" & more', ["cnn"], 61_100_840, 56.5, 4,
                  [0.70, 0.35, 0.40], BENCHES),
            model("tiny@none", "tiny", "none", [], None, None, 4, [0.20, None, None], ["lamem-pls"]),
        ],
        "figures": [{"id": "fig2", "title": "Fig. 2: IT vs memorability", "x": "neural-it", "y": "lamem-pls",
                     "caption": "every layer <of> every model & more", "rho": 0.8, "p": 1e-5, "n": 300}],
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    board = make_board()
    out = tmp_path_factory.mktemp("site")
    return board, write_site(board, out)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(path: Path) -> _Tags:
    p = _Tags()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def _expected_points(board: dict, x: str, y: str) -> int:
    n = 0
    for m in board["models"]:
        ys = {p["layer"] for p in m["profiles"].get(y, [])}
        n += sum(p["layer"] in ys for p in m["profiles"].get(x, []))
    return n


# ---- pure Python -------------------------------------------------------------------------------------------------

def test_index_parses_and_hostile_name_is_escaped(site):
    board, index = site
    src = index.read_text(encoding="utf-8")
    tags = _parse(index).tags
    assert not [t for t, _ in tags if t == "img"]
    assert sum(1 for t, a in tags if t == "tr" and "data-i" in a) == len(board["models"])
    assert {a["id"] for t, a in tags if t == "tr" and "data-i" in a} == {"model=" + m["id"] for m in board["models"]}
    block = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', src, re.S)
    assert block and not set("<>&") & set(block.group(1))
    assert json.loads(block.group(1))["board"]["models"][1]["model"] == HOSTILE
    outside = src[:block.start()] + src[block.end():]
    assert HOSTILE not in outside and html.escape(HOSTILE, quote=True) in outside
    assert "<b>PLS</b>" not in outside and "alert(2)</script>" not in src  # benchmark descriptions are data too
    assert "\u2028" not in block.group(1) and "\\u2028" in block.group(1)
    assert html.escape('ft "lamem" & more', quote=True) in outside
    assert "ab12cd34ef" in outside and "ab12cd34ef5" not in outside  # first 10 hex digits of the fingerprint
    assert "11.7 M" in outside and 'href="board.csv"' in outside and 'href="figures/fig2.html"' in outside


def test_csv_matches_board(site):
    board, index = site
    with (index.parent / "board.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == [m["model"] for m in board["models"]]
    for r, m in zip(rows, board["models"]):
        assert r["weights"] == m["weights"]
        for b in BENCHES:
            s = m["scores"].get(b)
            for k in ("value", "error", "raw"):
                want = None if s is None else s.get(k)
                assert (float(r[f"{b}:{k}"]) if r[f"{b}:{k}"] else None) == want
            assert r[f"{b}:layer"] == ((m["committed"].get(b) or s["layer"]) if s else "")
        for k in ("n_layers", "params", "imagenet_top1"):
            assert (float(r[k]) if r[k] else None) == m[k]


def test_one_page_per_model_and_figure(site):
    board, index = site
    for m in board["models"]:
        page = index.parent / "models" / f"{safe_file_name(m['id'])}.html"
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.html", page.name)
        tags = _parse(page).tags
        assert sum(t == "polyline" for t, _ in tags) == len(m["profiles"])
        assert not [t for t, _ in tags if t == "img"]
        assert ("a", {"href": "../index.html"}) in tags
    assert _parse(index.parent / "figures" / "fig2.html").tags
    assert len(list((index.parent / "models").iterdir())) == len(board["models"])
    assert safe_file_name("a/b") != safe_file_name("a_b")


def test_tolerates_missing_fields_and_nan(tmp_path):
    board = {"benchmarks": [{"name": "b", "ceiling": True, "data": {"counts": None}}, None, {"name": None}],
             "models": [{"id": "only-id", "scores": {"b": {"value": float("nan"), "error": None}}, "tags": None,
                         "profiles": {"b": [{"layer": "l", "depth": None, "value": 1.0}, None]}, "params": "n/a"},
                        {"model": "m", "weights": None, "scores": {"b": {"value": 0.5, "error": float("inf")}},
                         "profiles": {"b": [{"layer": "l", "depth": 0.5, "value": 0.5}]}}],
             "figures": [{"id": "../../escape", "x": "b", "y": "b"}, None], "generated": None}
    index = write_site(board, tmp_path / "out")
    block = re.search(r'id="board-data">(.*?)</script>', index.read_text(encoding="utf-8"), re.S).group(1)
    data = json.loads(block, parse_constant=lambda c: pytest.fail(f"{c} in the JSON block"))
    assert data["board"]["models"][0]["scores"]["b"]["value"] is None
    figures = list((tmp_path / "out" / "figures").iterdir())
    assert len(figures) == 2 and all(f.parent == tmp_path / "out" / "figures" for f in figures)
    assert not list(tmp_path.glob("escape*"))
    with (tmp_path / "out" / "board.csv").open(newline="") as f:
        assert [r["b:value"] for r in csv.DictReader(f)] == ["", "0.5"]


# ---- headless Chromium -------------------------------------------------------------------------------------------

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - depends on the environment
    webdriver = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def driver():
    missing = [n for n, ok in (("selenium", webdriver), ("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER))
               if not ok]
    if missing:
        msg = f"browser tests need {', '.join(missing)}"
        if os.environ.get("CI") or os.environ.get("MEMSCORE_REQUIRE_BROWSER"):
            pytest.fail(msg + " (required: CI or MEMSCORE_REQUIRE_BROWSER is set)")
        pytest.skip(msg)
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield d
    d.quit()


def _load(driver, path: Path, fragment: str = ""):
    driver.get_log("browser")  # drop entries from earlier pages
    driver.get(path.resolve().as_uri() + fragment)
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")


def _order(driver) -> list[int]:
    return [int(tr.get_attribute("data-i")) for tr in _rows(driver)]


def _shown(driver) -> list[int]:
    return [int(tr.get_attribute("data-i")) for tr in _rows(driver) if tr.is_displayed()]


def test_pages_load_from_file_without_console_errors(site, driver):
    board, index = site
    hostile_page = index.parent / "models" / f"{safe_file_name(board['models'][1]['id'])}.html"
    for page in (index, hostile_page, index.parent / "figures" / "fig2.html"):
        assert _load(driver, page) == [], page
    assert driver.title == "Fig. 2: IT vs memorability"
    _load(driver, index)
    assert driver.find_element(By.ID, "shown").text == "4 of 4 models"  # the inline script ran


def test_header_click_sorts_and_toggles(site, driver):
    board, index = site
    _load(driver, index)
    th = driver.find_element(By.CSS_SELECTOR, 'th[data-col="3"]')  # neural-it; the tiny model has no value
    assert th.text == "neural-it" and th.get_attribute("aria-sort") is None
    assert _order(driver) == [0, 1, 2, 3]
    th.click()
    assert _order(driver) == [2, 0, 1, 3] and th.get_attribute("aria-sort") == "ascending"
    assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#board tbody td:nth-child(4) .v")] == \
        ["0.350", "0.420", "0.500"]
    th.click()
    assert _order(driver) == [1, 0, 2, 3] and th.get_attribute("aria-sort") == "descending"  # missing stays last
    params = driver.find_element(By.CSS_SELECTOR, 'th[data-col="6"]')
    params.click()
    assert _order(driver) == [0, 2, 1, 3] and th.get_attribute("aria-sort") is None
    driver.find_element(By.CSS_SELECTOR, 'th[data-col="0"]').click()
    assert _order(driver) == [1, 2, 0, 3]  # "<img..." < "alexnet" < "resnet18" < "tiny"


def test_text_filter_and_tag_select_hide_rows(site, driver):
    board, index = site
    _load(driver, index)
    box = driver.find_element(By.ID, "filter")
    for text, want in (("resnet", [0]), ('"LAMEM" &', [2]), ("harada", [0]), ("nothing-matches", []),
                       ("onerror", [1])):
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        box.send_keys(text)
        assert _shown(driver) == want, text
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    assert _shown(driver) == [0, 1, 2, 3]
    tag = Select(driver.find_element(By.ID, "tag"))
    assert [o.get_attribute("value") for o in tag.options] == ["", "cnn", "harada2023", "vit"]
    tag.select_by_value("cnn")
    assert _shown(driver) == [0, 2]
    box.send_keys("alex")
    assert _shown(driver) == [2]
    tag.select_by_value("")
    assert _shown(driver) == [2] and driver.find_element(By.ID, "shown").text == "1 of 4 models"


def test_hostile_name_is_text(site, driver):
    board, index = site
    for page in (index, index.parent / "models" / f"{safe_file_name(board['models'][1]['id'])}.html"):
        assert _load(driver, page) == []
        assert HOSTILE in driver.find_element(By.TAG_NAME, "body").text
        assert driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
        assert driver.find_elements(By.TAG_NAME, "img") == []
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
    assert driver.title == board["models"][1]["id"]


def test_permalink_selects_row(site, driver):
    board, index = site
    hostile_id = board["models"][1]["id"]
    assert _load(driver, index, "#model=" + quote(hostile_id, safe="")) == []
    selected = driver.find_elements(By.CSS_SELECTOR, "#board tr.selected")
    assert [s.get_attribute("id") for s in selected] == ["model=" + hostile_id]
    driver.find_element(By.CSS_SELECTOR, '#board tr[data-i="2"] a.perma').click()
    assert driver.execute_script("return decodeURIComponent(location.hash)") == "#model=" + board["models"][2]["id"]
    assert [int(s.get_attribute("data-i")) for s in driver.find_elements(By.CSS_SELECTOR, "tr.selected")] == [2]


def test_screenshot_is_not_blank(site, driver, tmp_path):
    from PIL import Image, ImageStat

    _load(driver, site[1])
    shot = tmp_path / "index.png"
    assert driver.save_screenshot(str(shot))
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20
    assert max(ImageStat.Stat(img).stddev) > 5


def test_svg_plots(site, driver):
    board, index = site
    for m in board["models"]:
        assert _load(driver, index.parent / "models" / f"{safe_file_name(m['id'])}.html") == []
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg#profiles polyline")) == len(m["profiles"])
        marks = driver.find_elements(By.CSS_SELECTOR, "svg#profiles circle.mark")
        assert len(marks) == len(m["profiles"])  # every profile here has its committed/best layer
    assert _load(driver, index.parent / "figures" / "fig2.html") == []
    dots = driver.find_elements(By.CSS_SELECTOR, "svg#scatter circle")
    assert len(dots) == _expected_points(board, "neural-it", "lamem-pls") == 6 + 5 + 4
    assert "ρ = 0.800, p = 1e-05, n = 300" in driver.find_element(By.CLASS_NAME, "stats").text
    assert "every layer <of> every model & more" in driver.find_element(By.CLASS_NAME, "caption").text
    labels = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg#scatter text")]
    assert "neural-it" in labels and "lamem-pls" in labels
    assert len(driver.find_elements(By.CSS_SELECTOR, ".legend li")) == 3  # the tiny model has no neural-it layer


def test_a_banner_is_said_on_every_page(tmp_path):
    board = {**make_board(), "banner": "synthetic data: <nothing> here is real"}
    index = write_site(board, tmp_path / "site")
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) == 1 + len(board["models"]) + len(board["figures"])
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert '<p class="banner"><strong>synthetic data: &lt;nothing&gt; here is real</strong></p>' in text, page
    assert "banner" not in write_site(make_board(), tmp_path / "plain").read_text(encoding="utf-8").split("</style>")[1]


def test_model_page_legend_is_not_clipped(site, driver):
    """The profile legend is HTML under the plot (it wraps), not SVG text cut at the plot's right edge."""
    board, index = site
    m = board["models"][0]
    assert _load(driver, index.parent / "models" / f"{safe_file_name(m['id'])}.html") == []
    items = driver.find_elements(By.CSS_SELECTOR, ".legend li")
    assert [i.text for i in items] == list(m["profiles"])
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert all(i.rect["x"] + i.rect["width"] <= width for i in items)
