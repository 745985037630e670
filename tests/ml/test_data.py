from pathlib import Path

from ml.classes import CLASSES
from ml.data import (
    decode_all,
    discover,
    read_split,
    select_samples,
    split_by_group,
    stratified_limit,
    validation_halves,
    write_split,
)
from ml.preprocessing import PreprocessSpec


def test_manifest_layout_is_read_with_its_groups(manifest_dataset: Path) -> None:
    dataset = discover(manifest_dataset)
    assert dataset.layout == "manifest"
    assert len(dataset.samples) == 30
    assert {s.label for s in dataset.samples} == {0, 1, 2}
    assert sum(s.group == "COVID-dup" for s in dataset.samples) == 2


def test_kaggle_layout_ignores_masks_and_lung_opacity(kaggle_dataset: Path) -> None:
    dataset = discover(kaggle_dataset)
    assert dataset.layout == "kaggle"
    assert len(dataset.samples) == 18
    assert all(s.path.parent.name == "images" for s in dataset.samples)
    assert {s.path.parent.parent.name for s in dataset.samples} == set(CLASSES)
    # The Kaggle download has no duplicate groups: each image is its own.
    assert len({s.group for s in dataset.samples}) == 18


def test_kaggle_folder_itself_can_be_given(kaggle_dataset: Path) -> None:
    assert len(discover(kaggle_dataset / "COVID-19_Radiography_Dataset").samples) == 18


def test_split_is_deterministic_stratified_and_never_splits_a_group(manifest_dataset: Path) -> None:
    samples = discover(manifest_dataset).samples
    train, val = split_by_group(samples, 0.3, seed=1)
    again = split_by_group(samples, 0.3, seed=1)
    assert (train, val) == again
    assert not {s.group for s in train} & {s.group for s in val}
    assert {s.label for s in val} == {0, 1, 2}
    assert len(train) + len(val) == len(samples)


def test_split_file_round_trips(manifest_dataset: Path, tmp_path: Path) -> None:
    dataset = discover(manifest_dataset)
    train, val = split_by_group(dataset.samples, 0.3, seed=0)
    write_split(tmp_path / "split.csv", dataset.root, train, val)
    assert read_split(tmp_path / "split.csv", dataset.root) == (train, val)


def test_validation_halves_are_disjoint_whole_groups_of_every_class(manifest_dataset: Path) -> None:
    _, val = split_by_group(discover(manifest_dataset).samples, 0.5, seed=0)
    select, assess = validation_halves(val)
    assert sorted(map(str, select + assess)) == sorted(map(str, val))
    assert not {s.group for s in select} & {s.group for s in assess}
    assert {s.label for s in select} == {s.label for s in assess} == {0, 1, 2}
    # The halves depend on the groups only, not on the order they come in.
    reordered = validation_halves(list(reversed(val)))
    assert [{str(s.path) for s in half} for half in reordered] == [
        {str(s.path) for s in half} for half in (select, assess)
    ]


def test_select_samples_reads_each_half_of_a_run_split(manifest_dataset: Path, tmp_path: Path) -> None:
    dataset = discover(manifest_dataset)
    train, val = split_by_group(dataset.samples, 0.5, seed=0)
    write_split(tmp_path / "split.csv", dataset.root, train, val)
    halves = [
        select_samples(manifest_dataset, tmp_path / "split.csv", side, 0, 0)[0]
        for side in ("select", "assess")
    ]
    assert tuple(halves) == validation_halves(val)


def test_limit_takes_whole_groups_from_every_class(manifest_dataset: Path) -> None:
    samples = discover(manifest_dataset).samples
    subset = stratified_limit(samples, 15, seed=0)
    assert 12 <= len(subset) <= 18
    assert {s.label for s in subset} == {0, 1, 2}
    groups = {s.group for s in subset}
    assert all(s in subset for s in samples if s.group in groups)


def test_decoding_caches_every_image_at_the_resize_square(manifest_dataset: Path) -> None:
    samples = discover(manifest_dataset).samples[:3]
    cache = decode_all(samples, PreprocessSpec(), workers=1)
    assert cache.shape == (3, 1, 256, 256)
    assert float(cache.min()) >= 0 and float(cache.max()) <= 1


def test_shared_copy_splits_by_group_without_leaks(shared_data: Path) -> None:
    dataset = discover(shared_data)
    assert len(dataset.samples) == 13_656
    train, val = split_by_group(dataset.samples, 0.15, seed=0)
    assert not {s.group for s in train} & {s.group for s in val}
    assert abs(len(val) / len(dataset.samples) - 0.15) < 0.01
