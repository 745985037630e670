"""Studies that chose a shipped setting: each is a command that measures, prints its tables and asserts
nothing. ``README.md`` beside this file indexes them: the question, the command, the answer.

Offline tools, like the rest of :mod:`ml`: the service imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
SHARED_DATA: Final = REPO.parent / "shared" / "data"
"""The shared data sets, beside the repository (``../shared/data``); never committed."""
RADIOGRAPHY: Final = SHARED_DATA / "covid-radiography"
