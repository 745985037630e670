import numpy as np

from bench.lateral_symmetry import symmetry, table


def _frontal_like() -> np.ndarray:
    """Two dark lung fields either side of a bright spine: symmetric about the vertical midline."""
    x = np.linspace(-1, 1, 200)
    columns = 0.8 - 0.5 * np.exp(-(((np.abs(x) - 0.45) / 0.2) ** 2))
    return np.tile(columns, (240, 1)).astype(np.float32)


def _lateral_like() -> np.ndarray:
    """One broad dark field with a bright band (the spine) at one edge."""
    x = np.linspace(0, 1, 200)
    columns = 0.3 + 0.6 * np.exp(-(((x - 0.9) / 0.08) ** 2))
    return np.tile(columns, (240, 1)).astype(np.float32)


def test_a_mirror_symmetric_film_scores_one_and_a_one_sided_film_lower() -> None:
    frontal, lateral = symmetry(_frontal_like()), symmetry(_lateral_like())
    assert frontal[0] > 0.99 and frontal[1] > 0.99
    assert lateral[0] < 0.5 and lateral[1] < 0.5


def test_the_table_counts_each_set_below_validations_one_percent_quantile() -> None:
    rng = np.random.default_rng(0)
    values = {"validation": rng.uniform(0.5, 1.0, (200, 2)), "laterals": np.full((10, 2), 0.1)}
    text = table(values)
    assert "| laterals | 10 |" in text
    assert text.count("100.0%") == 2
