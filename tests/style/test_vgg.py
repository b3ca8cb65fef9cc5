"""The VGG-19 encoder: weights, preprocessing, truncation, frozen parameters."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.style.vgg import (
    CAFFE_MEAN_BGR,
    CONV_LAYERS,
    LAYERS,
    VGG19Encoder,
    build_encoder,
    caffe_weights_path,
    channels,
    load_caffe_weights,
    load_torchvision_weights,
)


@pytest.fixture(scope="module")
def weights():
    return load_caffe_weights()


def test_weights_match_the_file(weights):
    raw = torch.load(caffe_weights_path(), map_location="cpu", weights_only=True)
    assert set(weights) == set(CONV_LAYERS) and len(CONV_LAYERS) == 16
    c_in = 3
    for name in CONV_LAYERS:
        w, b = weights[name]
        c_out = channels(name)
        assert w.shape == (c_out, c_in, 3, 3) and b.shape == (c_out,)
        c_in = c_out
    # A dequantised value is the table entry its index points at.
    idx, table = raw["block3_conv2_W_q"], raw["block3_conv2_W_table"]
    assert weights["conv3_2"][0][7, 11, 1, 2].item() == table[int(idx[7, 11, 1, 2])].item()
    assert torch.equal(weights["conv5_4"][1], raw["block5_conv4_b"])
    # Quantised to 256 levels: each layer uses at most 256 distinct values.
    assert weights["conv1_1"][0].unique().numel() <= 256


def test_preprocessing_is_caffe_convention_and_round_trips(weights):
    enc = VGG19Encoder(weights, ["relu1_1"])
    rgb = torch.rand(2, 3, 5, 7) * 255
    x = enc.preprocess(rgb)
    mean_rgb = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
    # BGR channel order, mean pixel subtracted, 0–255 scale.
    assert torch.allclose(x, (rgb - mean_rgb).flip(1))
    assert torch.allclose(enc.postprocess(x), rgb, atol=1e-4)


def test_runs_only_as_deep_as_needed_and_is_frozen(weights):
    enc = VGG19Encoder(weights, ["relu4_2", "relu1_1"])
    assert enc.names[-1] == "relu4_2" and len(enc.body) == LAYERS.index("relu4_2") + 1
    x = torch.rand(1, 3, 32, 32, requires_grad=True) * 255
    feats = enc(x)
    assert set(feats) == {"relu1_1", "relu4_2"}
    assert feats["relu4_2"].shape == (1, 512, 4, 4)
    feats["relu4_2"].sum().backward()
    assert all(not p.requires_grad and p.grad is None for p in enc.parameters())
    with pytest.raises(VidstyleError):
        enc(x, ["relu5_1"])


def test_average_pooling_differs_from_max(weights):
    x = torch.rand(1, 3, 16, 16) * 255
    a = VGG19Encoder(weights, ["relu2_1"], pooling="max")(x)["relu2_1"]
    b = VGG19Encoder(weights, ["relu2_1"], pooling="avg")(x)["relu2_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_features_respond_to_image_content(weights, data_dir):
    from vidstyle.image.io import load_image

    enc = VGG19Encoder(weights, ["relu3_1"])
    img = load_image(data_dir / "chelsea_128.png") * 255
    f = enc(img)["relu3_1"]
    assert torch.isfinite(f).all() and (f > 0).float().mean() > 0.05
    flat = enc(torch.full_like(img, 128.0))["relu3_1"]
    assert f.std() > 5 * flat.std()


def test_torchvision_weights_load_from_a_local_file(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.vgg19(weights=None)  # random init: nothing is downloaded
    path = tmp_path / "vgg19-local.pth"
    torch.save(model.state_dict(), path)
    enc = VGG19Encoder(load_torchvision_weights(path), ["relu2_1"], network="torchvision")
    rgb = torch.rand(1, 3, 24, 24) * 255
    ours = enc(rgb)["relu2_1"]
    normalised = (rgb / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    theirs = model.features[: LAYERS.index("relu2_1") + 1](normalised)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_bad_weights_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not weights")
    with pytest.raises(VidstyleError, match=r"bad\.pth"):
        load_caffe_weights(bad)
    with pytest.raises(VidstyleError, match="not found"):
        load_torchvision_weights(tmp_path / "missing.pth")
    with pytest.raises(VidstyleError, match="weights"):
        build_encoder(["relu1_1"], network="torchvision", weights_path=tmp_path / "missing.pth")
    with pytest.raises(VidstyleError, match="relu9_9"):
        build_encoder(["relu9_9"])


def test_min_input_side():
    from vidstyle.style.vgg import min_input_side

    assert min_input_side(["relu1_1"]) == 1
    assert min_input_side(["relu4_2", "relu1_1"]) == 8
    assert min_input_side(["relu5_1"]) == 16


def test_bf16_encoder_keeps_the_first_layer_exact_and_the_rest_close(weights, data_dir):
    from vidstyle.image.io import load_image

    x = load_image(data_dir / "chelsea_128.png")[..., :64, :96] * 255
    layers = ["relu1_1", "relu3_1", "relu4_2", "relu5_1"]
    full = VGG19Encoder(weights, layers)(x)
    mixed = VGG19Encoder(weights, layers, compute_dtype=torch.bfloat16)(x)
    assert mixed["relu1_1"].dtype == torch.float32 and torch.equal(mixed["relu1_1"], full["relu1_1"])
    for layer in layers[1:]:
        assert mixed[layer].dtype == torch.bfloat16
        rel = (mixed[layer].float() - full[layer]).norm() / full[layer].norm()
        assert rel < 0.03, (layer, float(rel))
