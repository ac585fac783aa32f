"""AMNet: the model contract, its listing, AMNet's preprocessing, a checkpoint in AMNet's own key names and
PyTorch-0.2-era format loaded through ``--weights FILE`` and scored equal to a transcription of the authors'
``AMemNetModel`` + ``AMNet.postprocess`` (with and without attention), one-line errors for bad checkpoints and
contradicting release folders, and the training-data marks.

No test touches the network: every checkpoint is a random-init state dict written into ``tmp_path``.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import memscore
from memscore.errors import MemscoreError, OptionError
from memscore.layerwise import training_marks
from memscore.pluginmanager import Plugins
from memscore.testing import check_model
import memscore_plugins.models.amnet as amnet_plugin
from memscore_plugins.models.amnet import model as am


# -- a transcription of the authors' network (github.com/ok1zjf/AMNet, amnet_model.py, MIT, (c) 2018 Jiri Fajtl) --
# Kept as written there except: no ImageNet download (pretrained=True), no Variable, nn.init.constant_ for the
# removed nn.init.constant, CPU only. Its ``forward`` returns (None, output_seq, alphas) as AMNet's does.
class RefResNet50FC(nn.Module):
    def __init__(self):
        super(RefResNet50FC, self).__init__()
        from torchvision import models

        self.core_cnn = models.resnet50(weights=None)
        self.D = 1024

    def forward(self, x):
        x = self.core_cnn.conv1(x)
        x = self.core_cnn.bn1(x)
        x = self.core_cnn.relu(x)
        x = self.core_cnn.maxpool(x)
        x = self.core_cnn.layer1(x)
        x = self.core_cnn.layer2(x)
        x = self.core_cnn.layer3(x)
        return x


class RefAMemNetModel(nn.Module):
    def __init__(self, core_cnn, hps, a_res=14, a_vec_size=512):
        super(RefAMemNetModel, self).__init__()
        self.hps = hps
        self.use_attention = hps.use_attention
        self.with_bn = True
        self.a_vec_size = a_vec_size
        self.a_vec_num = a_res * a_res
        self.seq_len = hps.seq_steps
        self.lstm_input_size = self.a_vec_size
        self.lstm_hidden_size = 1024
        self.lstm_layers = 1
        self.core_cnn = core_cnn
        self.inconv = nn.Conv2d(in_channels=core_cnn.D, out_channels=a_vec_size, kernel_size=(1, 1), stride=1,
                                padding=0, bias=True)
        if self.with_bn: self.bn1 = nn.BatchNorm2d(a_vec_size)
        self.hs1 = nn.Linear(in_features=self.a_vec_size, out_features=self.lstm_hidden_size)
        self.hc1 = nn.Linear(in_features=self.a_vec_size, out_features=self.lstm_hidden_size)
        self.e1 = nn.Linear(in_features=self.a_vec_size, out_features=self.a_vec_size, bias=False)
        self.eh1 = nn.Linear(in_features=self.lstm_hidden_size, out_features=self.a_vec_num)
        self.eh3 = nn.Linear(in_features=self.a_vec_size, out_features=1, bias=False)
        self.rnn = nn.LSTM(input_size=self.lstm_input_size, hidden_size=self.lstm_hidden_size,
                           num_layers=self.lstm_layers, dropout=0.5, bidirectional=False)
        self.regnet1 = nn.Linear(in_features=self.lstm_hidden_size, out_features=512)
        self.regnet4 = nn.Linear(in_features=self.regnet1.out_features, out_features=1)
        self.tanh = nn.Tanh()
        self.relu = nn.ReLU()
        self.drop50 = nn.Dropout(0.5)
        self.drop80 = nn.Dropout(0.80)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        if not self.use_attention:
            self.alpha = torch.Tensor(x.size(0), self.a_vec_num)
            nn.init.constant_(self.alpha, 1)
            self.alpha = self.alpha / self.a_vec_num
        x = self.core_cnn(x)
        x = self.inconv(x)
        if self.with_bn: x = self.bn1(x)
        x = self.relu(x)
        x = self.drop80(x)
        a = x.view(x.size(0), self.a_vec_size, self.a_vec_num)
        af = a.mean(2)
        hs = self.hs1(af)
        hs = self.tanh(hs)
        cs = self.hc1(af)
        cs = self.tanh(cs)
        e = a.transpose(2, 1).contiguous()
        e = e.view(-1, self.a_vec_size)
        e = self.e1(e)
        e = self.relu(e)
        e = self.drop50(e)
        e = e.view(-1, self.a_vec_num, self.a_vec_size)
        e = e.transpose(2, 1)
        h = hs
        rnn_state = (hs.expand(self.lstm_layers, hs.size(0), hs.size(1)).contiguous(),
                     cs.expand(self.lstm_layers, cs.size(0), cs.size(1)).contiguous())
        steps = self.seq_len
        output_seq = [0] * steps
        alphas = [0] * steps
        for i in range(steps):
            if self.use_attention:
                eh = self.eh1(h)
                eh = eh.view(-1, 1, self.a_vec_num)
                eh = e + eh
                eh = self.relu(eh)
                eh = self.drop50(eh)
                eh = eh.transpose(2, 1).contiguous()
                eh = eh.view(-1, self.a_vec_size)
                eh = self.eh3(eh)
                eh = eh.view(-1, self.a_vec_num)
                alpha = self.softmax(eh)
            else:
                alpha = self.alpha
            alpha_a = alpha.view(alpha.size(0), self.a_vec_num, 1)
            z = a.bmm(alpha_a)
            z = z.view(z.size(0), self.a_vec_size)
            z = z.expand(1, z.size(0), z.size(1))
            self.rnn.flatten_parameters()
            h, rnn_state = self.rnn(z, rnn_state)
            h = h.squeeze(dim=0)
            h = self.drop50(h)
            out = self.regnet1(h)
            out = self.relu(out)
            out = self.drop50(out)
            out = self.regnet4(out)
            output_seq[i] = out
            alphas[i] = alpha.unsqueeze(1)
        output_seq = torch.cat(output_seq, 1)
        alphas = torch.cat(alphas, 1)
        return None, output_seq, alphas


def ref_postprocess(outputs, target_mean=0.754, target_scale=2.0):
    """AMNet.postprocess (amnet.py), last_step_prediction off: the memorability per image."""
    output = outputs.sum(1)
    output = output / outputs.shape[1]
    output /= target_scale
    return output + target_mean


class _Tensor02:
    """A tensor pickled as PyTorch 0.2 did: ``torch._utils._rebuild_tensor(storage, offset, size, stride)``."""

    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        t = self.t
        return torch._utils._rebuild_tensor, (t.storage(), t.storage_offset(), tuple(t.size()), t.stride())


def save_like_amnet(state, path):
    """AMNet.save_checkpoint's ``{'model': state_dict}`` in PyTorch 0.2's (legacy, non-zip) format, without the
    BatchNorm ``num_batches_tracked`` counters (PyTorch >= 0.4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = OrderedDict((k, _Tensor02(v)) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        torch.save({"model": old}, path, _use_new_zipfile_serialization=False)
    return path


def tiny_state(**changes):
    """A well-shaped AMNet state dict whose tensors are one zero each, expanded (a few bytes on disk)."""
    with torch.device("meta"):
        own = am.AMNetNet().state_dict()
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in own.items()}
    state.update(changes)
    return state


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The transcribed AMNet (random init, BatchNorm statistics and affine parameters randomised so a wrong
    key mapping shows) and its checkpoint, saved as AMNet saved its own."""
    torch.manual_seed(11)
    hps = SimpleNamespace(use_attention=True, seq_steps=3, use_cuda=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout=0.5 on a 1-layer LSTM
        ref = RefAMemNetModel(RefResNet50FC(), hps, a_res=14, a_vec_size=1024)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
        ref.regnet4.bias.fill_(0.3)
    path = save_like_amnet(ref.state_dict(), tmp_path_factory.mktemp("amnet") / "weights_35.pkl")
    return ref.eval(), path


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)) for h, w in ((30, 40), (48, 20))]


def test_meets_the_model_contract(memscore_home):
    check_model("amnet")


def test_listed_as_a_published_predictor():
    plugins = Plugins()
    assert plugins.add("amnet", amnet_plugin).error == ""
    entry, _ = plugins.registry.get("model", "amnet")
    assert entry.available and {"memorability", "published-predictor"} <= set(entry.tags)
    assert entry.meta["output"] == "memorability" and entry.meta["license"] == "MIT" and "MIT" in entry.description
    assert entry.meta["trained_on"] == ["imagenet", "lamem"]
    assert [a.name for a in am.build.arguments] == ["split", "data", "attention", "backbone"]


def test_preprocessing_is_amnets_test_transform(images):
    from torchvision import transforms

    p = am.preprocessing()
    assert (p.crop_size, p.resize_size, p.interpolation) == (224, 224, "bilinear")
    assert p.to_dict()["resize_mode"] == "squash"
    theirs = transforms.Compose([transforms.Resize([224, 224]), transforms.ToTensor(),  # AMNet.init_transformations
                                 transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    for im in images:
        torch.testing.assert_close(p.transform()(im), theirs(im), rtol=0, atol=0)
    with pytest.raises(OptionError, match="224-pixel input only") as err:
        p.transform(image_size=128)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("attention", [True, False])
def test_amnets_checkpoint_loads_and_scores_as_amnet(memscore_home, reference, images, attention):
    ref, path = reference
    model = memscore.load_model("amnet", weights=str(path), split=2, attention=attention)
    assert model.weights == str(path) and model.meta["output"] == "memorability"
    mine, theirs = model.module.state_dict(), ref.state_dict()
    assert set(mine) == set(theirs)  # the same key names, layer4 and fc of the backbone included
    assert all(torch.equal(mine[k], v) for k, v in theirs.items() if not k.endswith("num_batches_tracked"))

    x = torch.stack([model.transform()(im) for im in images])
    ref.use_attention = attention
    seen = {"regnet4": [], "softmax": []}  # every step's output and attention map, from the one forward
    hooks = [getattr(model.module, n).register_forward_hook(lambda m, i, o, n=n: seen[n].append(o)) for n in seen]
    with torch.inference_mode():
        ours = model.module(x)
        _, ref_steps, ref_alphas = ref(x)
    for h in hooks:
        h.remove()
    assert ours.shape == (2, 1) and len(seen["regnet4"]) == 3
    torch.testing.assert_close(torch.cat(seen["regnet4"], 1), ref_steps, rtol=0, atol=1e-5)
    if attention:
        torch.testing.assert_close(torch.stack(seen["softmax"], 1), ref_alphas, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.squeeze(1), ref_postprocess(ref_steps), rtol=0, atol=1e-5)
    assert not torch.allclose(ours[0], ours[1])  # the images differ, and so do their scores

    if attention:  # layers: AMNet's modules by its own names; per-step modules are captured at the last step
        layers = model.layers()
        assert {"core_cnn.core_cnn.layer3.5.relu", "inconv", "e1", "rnn", "regnet1"} <= set(layers)
        assert not any(n.startswith(("core_cnn.core_cnn.layer4", "core_cnn.core_cnn.fc")) for n in layers)
        assert model.head == "regnet4" and model.penultimate_layer == "relu_reg"
        assert {li.name: li.calls for li in model.layer_info()}["rnn"] == 3


def test_release_folder_loads_and_marks_its_split(memscore_home, tmp_path):
    path = tmp_path / "lamem_ResNet50FC_lstm3_train_3" / "weights_35.pkl"
    path.parent.mkdir()
    torch.save({"model": tiny_state()}, path)
    model = memscore.load_model("amnet", weights=str(path), split=3)
    assert model.meta["trained_on"] == ["imagenet", {"data": "lamem", "split": 3, "parts": ["train", "val"]}]
    # the marks a LaMem benchmark derives from it: split 3's train and val images among its test images
    bench = SimpleNamespace(test_images=lambda _: {"lamem": {"a", "b", "c", "d"}},
                            part_images=lambda _, data, split, part: {"train": {"a"}, "val": {"b", "x"}}[part])
    assert training_marks(bench, model, None) == [{"data": "lamem", "split": 3, "parts": ["train", "val"],
                                                   "test_images_seen": 2, "test_images": 4}]


def test_training_marks():
    assert am.trained_on("none", "lamem", 2) == []
    assert am.trained_on("w.pkl") == ["imagenet", {"data": "lamem"}]  # split unknown: the whole set counts
    assert am.trained_on("w.pkl", "sun-memorability", 7) == [  # AMNet validates SUN on test_k
        "imagenet", {"data": "sun-memorability", "split": 7, "parts": ["train", "test"]}]
    model = memscore.load_model("amnet", weights="none", split=1)
    assert model.meta["trained_on"] == [] and model.weights == "none(seed=0)"


@pytest.mark.parametrize("state, match", [
    ({"conv1.weight": torch.zeros(3)}, "key(s) missing, e.g. 'core_cnn.core_cnn.conv1.weight', 1 unexpected, "
                                        "e.g. 'conv1.weight'"),
    (tiny_state(**{"regnet4.weight": torch.zeros(2, 512)}), "'regnet4.weight' has shape (2, 512), AMNet's is (1, 512)"),
    (tiny_state(**{f"core_cnn.core_cnn.layer3.{i}.conv1.weight": torch.zeros(256, 1024, 1, 1) for i in range(6, 23)}),
     "layer3 has 23 blocks, an AMNet ResNet101FC checkpoint: pass --model-args backbone=resnet101"),
    (tiny_state(**{"inconv.bias": 3}), "'inconv.bias' holds a int, not a tensor"),
])
def test_a_bad_checkpoint_is_one_line(memscore_home, tmp_path, state, match):
    path = tmp_path / "bad.pkl"
    torch.save({"model": state}, path)
    with pytest.raises(MemscoreError) as err:
        memscore.load_model("amnet", weights=str(path))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"--weights {path}: does not fit AMNet") and match in msg


@pytest.mark.parametrize("folder, args, match", [
    ("lamem_ResNet50FC_lstm3_noatt_train_2", {}, "pass --model-args attention=false"),
    ("lamem_ResNet50FC_lstm3_train_2", {"split": 4}, "pass --model-args split=2"),
    ("sun_ResNet50FC_lstm3_train_9", {}, "pass --model-args data=sun-memorability"),
    ("lamem_ResNet101FC_lstm3_train_1", {}, "pass --model-args backbone=resnet101"),
    ("ava_ResNet101FC_lstm3_train_1", {}, "memorability releases only"),
    ("lamem_ResNet50FC_lstm3_last_train_1", {}, "lstm3_last variant"),
])
def test_a_release_folder_contradicting_the_arguments_is_one_line(memscore_home, tmp_path, folder, args, match):
    path = tmp_path / folder / "weights_1.pkl"
    path.parent.mkdir()
    path.write_bytes(b"")  # refused before it is read
    with pytest.raises(MemscoreError) as err:
        memscore.load_model("amnet", weights=str(path), **args)
    assert "\n" not in str(err.value) and match in str(err.value) and folder in str(err.value)


def test_other_weights_and_arguments_are_one_line(memscore_home, tmp_path):
    for weights, args, exc, match in [
            ("default", {}, MemscoreError, "no weights memscore can download"),
            (str(tmp_path / "nope.pkl"), {}, MemscoreError, "no such file"),
            ("none", {"split": 6}, OptionError, "lamem has splits 1 to 5"),
            ("none", {"split": 0}, OptionError, "split=0"),
            ("none", {"data": "memcat"}, OptionError, "data=memcat"),
    ]:
        with pytest.raises(exc) as err:
            memscore.load_model("amnet", weights=weights, **args)
        assert "\n" not in str(err.value) and match in str(err.value)
