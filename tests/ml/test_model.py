import pytest
import torch

from ml.gradcam import predict_with_cam
from ml.model import MODELS, build_model, count_parameters


def test_paper_cnn_has_the_papers_parameter_count() -> None:
    assert count_parameters(build_model("paper_cnn")) == 1_174_859


def test_every_registered_model_maps_an_image_batch_to_three_logits() -> None:
    for name in MODELS:
        model = build_model(name).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 224, 224))
        assert out.shape == (2, 3), name


def test_features_are_the_last_block_after_relu_at_one_eighth_resolution() -> None:
    model = build_model("paper_cnn").eval()
    with torch.no_grad():
        feats = model.features(torch.randn(1, 3, 224, 224))
    assert feats.shape == (1, 256, 28, 28)
    assert feats.min() >= 0


def test_unknown_architecture_is_rejected_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="paper_cnn"):
        build_model("resnet50")


def test_gradcam_maps_are_normalised_and_explain_the_predicted_class() -> None:
    torch.manual_seed(0)
    model = build_model("paper_cnn").eval()
    x = torch.randn(3, 3, 64, 64)
    result = predict_with_cam(model, x)
    assert result.cams is not None
    assert result.cams.shape == (3, 8, 8)
    assert float(result.cams.min()) >= 0 and float(result.cams.max()) <= 1
    assert torch.equal(result.targets, result.logits.argmax(1))
    plain = predict_with_cam(model, x, with_cam=False)
    assert plain.cams is None
    torch.testing.assert_close(plain.logits, result.logits)
