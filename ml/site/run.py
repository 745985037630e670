"""A folder's films through the served model, as one site sending them one at a time.

The films go in sorted order of their relative paths. Their forward passes are batched for speed (a batch
gives each film the answer it gets alone, up to float noise), but the source-shift monitor sees them one
by one: a :class:`~ml.model.monitor.SourceWindow` takes each in-scope answer's familiarity, and while its
alarm is on every answer carries ``unfamiliar_source``, as the service marks a site's answers.
Files the service would refuse (not PNG, JPEG or DICOM, undecodable, too large or small) are counted by
reason and left out of the stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ml import decoding
from ml.engine.answers import ModelInputs
from ml.model.assessment import Assessment, counted
from ml.model.monitor import SourceWindow, WindowState
from ml.site.served import Answer, ServedModel

SKIP_REASONS: dict[type[decoding.DecodeError], str] = {
    decoding.UnsupportedFormatError: "not PNG, JPEG or DICOM (or an unsupported DICOM encoding)",
    decoding.UnreadableImageError: "damaged or unreadable image",
    decoding.TooManyPixelsError: "too many pixels",
    decoding.SideTooShortError: "a side too short",
    decoding.DecoderNotInstalledError: "DICOM decoder not installed",
}
"""Why the service would refuse a file, by the decoder's exception (the service's 4xx problem types)."""
UNREADABLE_FILE = "cannot read the file"


@dataclass(frozen=True)
class FilmResult:
    """One film's answer as the site's client would get it, and the site's window after it."""

    file: str
    label: int | None
    probabilities: np.ndarray
    predicted: int
    assessment: Assessment
    """With ``unfamiliar_source`` where the site's alarm was on."""
    window: WindowState | None
    """None when the weights carry no monitor."""

    @property
    def flagged(self) -> bool:
        """What a client must not take alone: out of scope, or uncertain."""
        return not self.assessment.in_scope or self.assessment.uncertain


@dataclass
class SiteRun:
    films: list[FilmResult] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Files the service would refuse, by reason."""
    files: int = 0


def run_site(
    model: ServedModel,
    root: Path,
    files: list[str],
    labels: dict[str, int],
    batch_size: int = 16,
    progress: bool = True,
) -> SiteRun:
    """``files`` relative to ``root``, in the order a site sends them; ``labels`` for those that have one."""
    monitor = model.monitor
    window = SourceWindow(monitor) if monitor is not None else None
    result = SiteRun(files=len(files))
    with tqdm(total=len(files), unit="file", desc="validate-site", disable=not progress) as bar:
        for batch in _batches(model, root, files, batch_size, result.skipped, bar):
            answers = model.answer([prepared for _, prepared in batch])
            for (rel, _), answer in zip(batch, answers, strict=True):
                result.films.append(_stream(rel, labels.get(rel), answer, window))
    return result


def _stream(rel: str, label: int | None, answer: Answer, window: SourceWindow | None) -> FilmResult:
    assessment, state = answer.assessment, None
    if window is not None:
        assessment, state = counted(window, assessment)
    return FilmResult(rel, label, answer.probabilities, answer.predicted, assessment, state)


def _batches(
    model: ServedModel,
    root: Path,
    files: list[str],
    size: int,
    skipped: Counter[str],
    bar: tqdm[None],
) -> Iterator[list[tuple[str, ModelInputs]]]:
    """The readable films' inputs, ``size`` at a time, in ``files``' order; the others counted."""
    batch: list[tuple[str, ModelInputs]] = []
    for rel in files:
        try:
            batch.append((rel, model.prepare((root / rel).read_bytes())))
        except decoding.DecodeError as exc:
            skipped[SKIP_REASONS.get(type(exc), "unreadable image")] += 1
        except OSError:
            skipped[UNREADABLE_FILE] += 1
        bar.update()
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
