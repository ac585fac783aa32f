"""The plugin's tests: memscore's test kit for the model and the benchmark, sklearn for the metric."""
import numpy as np
from PIL import Image

import memscore
from memscore.metrics import Fold
from memscore.testing import check_benchmark, check_model


def make_data(root, n=60, seed=0):
    """A folder of images and scores.csv with signal planted in the images' brightness."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    lines = ["file,score"]
    for i, u in enumerate(rng.random(n)):
        img = np.clip(rng.normal(255 * u, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:03d}.png")
        lines.append(f"{i:03d}.png,{u + 0.05 * rng.standard_normal():.4f}")
    (root / "scores.csv").write_text("\n".join(lines) + "\n")
    return root


def test_model():
    check_model("my-net")


def test_benchmark(tmp_path):
    check_benchmark("image-scores", data_root=make_data(tmp_path / "a"), other_data_root=make_data(tmp_path / "b", seed=1),
                    model="my-net", benchmark_args={"pca": 20})


def test_metric_equals_sklearn():
    from sklearn.linear_model import Ridge

    X, y = np.random.default_rng(0).normal(size=(40, 5)), np.arange(40.0)
    [res] = memscore.load_metric("ridge")(X, y, [Fold(np.arange(30), np.arange(30, 40))])
    np.testing.assert_allclose(res.prediction, Ridge().fit(X[:30], y[:30]).predict(X[30:]))
