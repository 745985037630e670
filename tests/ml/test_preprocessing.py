import torch

from ml.preprocessing import (
    PreprocessSpec,
    crop_box,
    eval_batch,
    eval_transform,
    resized_shape,
    square_cache,
    train_augment,
)

SPEC = PreprocessSpec()


def test_eval_transform_is_deterministic_and_shaped_for_the_model() -> None:
    image = torch.rand(300, 260)
    a = eval_transform(image, SPEC)
    b = eval_transform(image, SPEC)
    assert a.shape == (3, 224, 224)
    assert torch.equal(a, b)
    assert torch.equal(a[0], a[1])
    assert float(a.min()) >= -1 and float(a.max()) <= 1


def test_train_augmentation_differs_between_draws_and_keeps_the_shape() -> None:
    cache = square_cache(torch.rand(224, 224), SPEC)[None].repeat(4, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    a = train_augment(cache, SPEC, gen)
    b = train_augment(cache, SPEC, gen)
    assert a.shape == (4, 3, 224, 224)
    assert not torch.equal(a, b)
    rotated = train_augment(cache, SPEC, gen, rotate_degrees=10, contrast=0.2)
    assert rotated.shape == (4, 3, 224, 224)


def test_training_cache_then_center_crop_equals_the_serving_transform_for_square_images() -> None:
    image = torch.rand(224, 224)
    served = eval_transform(image, SPEC)
    trained = eval_batch(square_cache(image, SPEC)[None], SPEC)[0]
    torch.testing.assert_close(served, trained)


def test_resize_keeps_aspect_with_the_shorter_side_at_resize() -> None:
    assert resized_shape(512, 1024, 256) == (256, 512)
    assert resized_shape(1024, 512, 256) == (512, 256)


def test_crop_box_maps_the_center_crop_back_to_original_pixels() -> None:
    box = crop_box(512, 1024, SPEC)
    assert box.height == box.width == 224 * 2
    assert box.top == 16 * 2
    assert box.left == (512 - 224) // 2 * 2


def test_spec_round_trips_through_its_dict_form() -> None:
    assert PreprocessSpec.from_dict(SPEC.to_dict()) == SPEC
