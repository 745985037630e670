"""Grad-CAM: ours against the grad-cam package, and the overlay's projection back onto the image."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from ml.gradcam import GradCamResult, predict_with_cam
from ml.model import PaperCNN
from ml.preprocess_spec import crop_geometry
from ml.preprocessing import PreprocessSpec, center_crop, resize_shorter
from service.overlay import (
    encode_png_rgb,
    jet,
    make_canvas,
    outline_crop,
    overlay_size,
    project_cam,
    render_overlay,
)
from tests.support.images import pattern
from tests.support.weights import random_model

SPEC = PreprocessSpec(resize=72, crop=64)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def library_cams(
    model: torch.nn.Module, layer: torch.nn.Module, inputs: torch.Tensor, targets: list[int]
) -> np.ndarray:
    with GradCAM(model=model, target_layers=[layer]) as cam:
        result: np.ndarray = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(t) for t in targets])
    return result


@pytest.fixture(scope="module")
def model() -> PaperCNN:
    return random_model(seed=1)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    images = torch.stack([torch.from_numpy(pattern(48, 48, seed)).float() for seed in range(4)])
    return ((images - 0.5) / 0.5)[:, None].expand(-1, 3, -1, -1).contiguous()


@pytest.fixture(scope="module")
def ours(model: PaperCNN, batch: torch.Tensor) -> GradCamResult:
    return predict_with_cam(model, batch)


def upsampled(result: GradCamResult, size: torch.Size) -> np.ndarray:
    assert result.cams is not None
    return F.interpolate(result.cams[:, None], size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def test_batched_head_only_gradcam_matches_the_grad_cam_package_at_the_last_block_output(
    model: PaperCNN, batch: torch.Tensor, ours: GradCamResult
) -> None:
    # model.body[-1] is the last block's ReLU: its output is the tensor our Grad-CAM differentiates.
    reference = library_cams(model, model.body[-1], batch, [int(t) for t in ours.targets])

    for mine, theirs in zip(upsampled(ours, batch.shape[-2:]), reference, strict=True):
        assert theirs.max() > 0
        assert correlation(mine, theirs) > 0.99


def test_targeting_the_last_conv_instead_gives_a_different_pre_relu_map(
    model: PaperCNN, batch: torch.Tensor, ours: GradCamResult
) -> None:
    conv = library_cams(model, model.body[-2], batch, [int(t) for t in ours.targets])

    correlations = [correlation(m, c) for m, c in zip(upsampled(ours, batch.shape[-2:]), conv, strict=True)]
    assert max(correlations) < 0.99


def test_gradcam_of_one_image_does_not_depend_on_its_batch(
    model: PaperCNN, batch: torch.Tensor, ours: GradCamResult
) -> None:
    alone = predict_with_cam(model, batch[2:3])
    assert ours.cams is not None and alone.cams is not None

    assert torch.allclose(ours.cams[2], alone.cams[0], atol=1e-5)
    assert torch.allclose(ours.logits[2], alone.logits[0], atol=1e-5)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (90, 160), (200, 120), (73, 301)])
def test_projected_map_goes_back_through_resize_and_crop_to_the_model_grid(height: int, width: int) -> None:
    """Projecting the map onto the image and redoing the model's resize and crop gives back the map."""
    rng = np.random.default_rng(height * width)
    cam = F.interpolate(torch.from_numpy(rng.random((1, 1, 4, 4))).float(), size=(8, 8), mode="bilinear")[
        0, 0
    ]

    canvas = make_canvas(np.zeros((height, width), np.float32), crop_geometry(height, width, SPEC), 4096)
    heat, inside = project_cam(cam.numpy(), canvas.box, height, width)

    seen = center_crop(resize_shorter(torch.from_numpy(heat)[None, None], SPEC.resize), SPEC.crop)[0, 0]
    expected = F.interpolate(
        cam[None, None], size=(SPEC.crop, SPEC.crop), mode="bilinear", align_corners=False
    )
    assert correlation(seen.numpy(), expected[0, 0].numpy()) > 0.999
    covered = center_crop(
        resize_shorter(torch.from_numpy(inside.astype(np.float32))[None, None], SPEC.resize), SPEC.crop
    )
    assert covered[0, 0, 2:-2, 2:-2].min() > 0.999


def test_pixels_outside_the_crop_stay_gray_and_inside_are_coloured() -> None:
    height, width = 64, 160  # wide: the crop leaves strips on the left and right
    image = np.full((height, width), 0.5, np.float32)
    canvas = make_canvas(image, crop_geometry(height, width, SPEC), max_side=4096)

    rgb = np.asarray(
        decode_png(render_overlay(canvas, np.ones((8, 8), np.float32)).png_base64), dtype=np.int16
    )

    box = canvas.box
    assert np.all(rgb[:, : int(box.left) - 1, 0] == rgb[:, : int(box.left) - 1, 2])  # gray
    centre = rgb[int(box.top) + 1 : int(box.top + box.height) - 1, width // 2]
    assert np.all(centre[:, 0] > centre[:, 2] + 50)  # hot: red over blue


def coloured_columns_and_rows(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the heat map is: pixels whose channels differ (the outline and the plain image are gray)."""
    coloured = (rgb[..., 0] != rgb[..., 2]) | (rgb[..., 1] != rgb[..., 2])
    return np.flatnonzero(coloured.any(axis=0)), np.flatnonzero(coloured.any(axis=1))


def is_dash(pixels: np.ndarray) -> bool:
    """Only the outline's white and black, and both of them."""
    values = {tuple(p) for p in pixels.reshape(-1, 3).tolist()}
    return values == {(255, 255, 255), (0, 0, 0)}


def test_a_dashed_line_marks_where_the_crop_ends_and_the_heat_map_is_untouched() -> None:
    height, width = 64, 160  # wide: the crop spans the full height and leaves strips left and right
    image = np.full((height, width), 0.5, np.float32)
    canvas = make_canvas(image, crop_geometry(height, width, SPEC), max_side=4096)
    cam = np.random.default_rng(3).random((8, 8)).astype(np.float32)

    rgb = decode_png(render_overlay(canvas, cam).png_base64)

    cols, rows = coloured_columns_and_rows(rgb)
    top, bottom, left, right = rows[0] - 1, rows[-1] + 1, cols[0] - 1, cols[-1] + 1
    assert is_dash(rgb[top : bottom + 1, left]) and is_dash(rgb[top : bottom + 1, right])
    assert is_dash(rgb[top, left : right + 1]) and is_dash(rgb[bottom, left : right + 1])
    assert np.all(rgb[:, : left - 1] == 128) and np.all(rgb[:, right + 2 :] == 128)  # the plain strips
    heat, _ = project_cam(cam, canvas.box, height, width)
    inside = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    levels = np.rint(heat[inside] * 255).astype(np.int16)
    red = rgb[inside][..., 0].astype(np.int16)
    assert np.corrcoef(levels.ravel(), red.ravel())[0, 1] > 0.9  # the map itself, not overdrawn


def test_no_line_is_drawn_where_the_crop_reaches_the_images_edge() -> None:
    rgb = np.full((20, 30, 3), 128, np.uint8)

    outline_crop(rgb, slice(0, 20), slice(5, 25))  # the full height, a strip either side

    assert is_dash(rgb[:, 4]) and is_dash(rgb[:, 25])
    assert np.all(rgb[:, 5:25] == 128)  # nothing above or below, and the inside untouched
    assert np.all(rgb[:, :4] == 128) and np.all(rgb[:, 26:] == 128)


def test_a_canvas_is_not_placed_by_the_crop_geometry_of_another_image() -> None:
    with pytest.raises(ValueError, match="crop geometry"):
        make_canvas(np.zeros((64, 160), np.float32), crop_geometry(64, 161, SPEC), max_side=4096)


def decode_png(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (307, 512), (512, 17)])
def test_overlay_png_encoder_is_lossless(height: int, width: int) -> None:
    rgb = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)

    image = Image.open(io.BytesIO(encode_png_rgb(rgb)))

    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (width, height))
    assert np.array_equal(np.asarray(image), rgb)


def test_overlay_size_keeps_aspect_and_never_enlarges() -> None:
    assert overlay_size(1000, 600, 512) == (512, 307)
    assert overlay_size(600, 1000, 512) == (307, 512)
    assert overlay_size(100, 80, 512) == (100, 80)


def test_jet_runs_from_blue_through_green_to_red() -> None:
    colours = jet(np.array([0.0, 0.5, 1.0]))

    assert np.allclose(colours[0], [0, 0, 0.5])
    assert np.allclose(colours[1], [0.5, 1, 0.5])
    assert np.allclose(colours[2], [0.5, 0, 0])
