"""The long fuzz: ``python -m tests.reliability.long.fuzz --cases 5000 [--mutations 2000] [--seed 0]``.

Starts ``python -m service`` on 127.0.0.1 (API keys on, random weights), then

1. schemathesis against its ``/openapi.json`` in rounds (coverage cases, then generated positive and
   negative cases for every operation, a new seed each round) until at least ``--cases`` have run;
2. ``--mutations`` damaged uploads (truncations and byte flips of valid PNG, JPEG and DICOM files of
   every supported kind) through ``POST /predict``: each must get 200, 413, 415 or 422, never a 5xx.

Prints the counts and every failure; exits 1 if there was any. Inputs that failed are written to
``--save-failures`` (a directory) for replay.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from pydicom.uid import RLELossless

from harness.live import LiveServer
from tests.reliability.config import API_KEY, AUTH
from tests.reliability.corpus import jpeg_cmyk, png_16bit, png_palette
from tests.reliability.fuzzing import FuzzReport, fuzz
from tests.support.images import dicom_bytes, encode, jpeg_bytes, pattern, png_bytes, to_uint8

from .common import live_server

CLIENT_ERRORS = frozenset({413, 415, 422})
# Operations with inputs: /predict, /metrics and /model, positive and negative (the others have none).
GENERATED_PER_EXAMPLE = 6


def originals() -> list[bytes]:
    pixels = to_uint8(pattern(96, 80))
    twelve_bit = pixels.astype(np.uint16) * 16
    return [
        png_bytes(96, 80),
        png_16bit(),
        png_palette(transparency=True),
        encode(Image.fromarray(pixels).convert("RGBA"), "PNG"),
        jpeg_bytes(96, 80),
        jpeg_bytes(96, 80, progressive=True),
        jpeg_cmyk(),
        dicom_bytes(pixels),
        dicom_bytes(pixels, photometric="MONOCHROME1"),
        dicom_bytes(
            twelve_bit,
            bits_stored=12,
            WindowCenter=2048,
            WindowWidth=4096,
            RescaleSlope=1,
            RescaleIntercept=0,
        ),
        dicom_bytes(pixels, transfer_syntax=RLELossless),
    ]


def mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Damage as uploads suffer it: truncation, flipped bytes, zeroed runs, spliced and repeated bytes."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        buffer = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            kind = rng.randrange(5)
            at = rng.randrange(len(buffer)) if buffer else 0
            if kind == 0:
                del buffer[rng.randrange(1, len(buffer) + 1) :]
            elif kind == 1 and buffer:
                for _ in range(rng.randrange(1, 9)):
                    buffer[rng.randrange(len(buffer))] = rng.randrange(256)
            elif kind == 2:
                buffer[at : at + rng.randrange(1, 64)] = bytes(min(63, len(buffer) - at))
            elif kind == 3:
                buffer[at:at] = rng.randbytes(rng.randrange(1, 64))
            else:
                buffer[at:at] = buffer[at : at + rng.randrange(1, 256)] * rng.randrange(1, 4)
        out.append(bytes(buffer))
    return out


def run_schemathesis(server: LiveServer, cases: int, seed: int) -> FuzzReport:
    total = FuzzReport()
    round_index = 0
    while total.cases < cases:
        remaining = cases - total.cases
        examples = max(10, math.ceil(remaining / GENERATED_PER_EXAMPLE))
        report = fuzz(server.url, api_key=API_KEY, examples=examples, seed=seed + round_index)
        total.cases += report.cases
        total.seconds += report.seconds
        total.statuses.update(report.statuses)
        total.failures.extend(report.failures)
        round_index += 1
        print(f"  round {round_index} (seed {seed + round_index - 1}): {report.summary()}", flush=True)
    return total


def run_mutations(server: LiveServer, count: int, seed: int, save: Path | None) -> tuple[Counter[int], int]:
    sources = originals()
    per_source = math.ceil(count / len(sources))
    statuses: Counter[int] = Counter()
    failures = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for index, source in enumerate(sources):
            for number, data in enumerate(mutations(source, per_source, seed + index)):
                response = client.post(
                    "/predict", files={"file": ("upload", data, "application/octet-stream")}, headers=AUTH
                )
                statuses[response.status_code] += 1
                if response.status_code != 200 and response.status_code not in CLIENT_ERRORS:
                    failures += 1
                    print(
                        f"  FAILURE: mutation {index}/{number} answered {response.status_code}: "
                        f"{response.text[:300]}",
                        flush=True,
                    )
                    if save is not None:
                        save.mkdir(parents=True, exist_ok=True)
                        (save / f"mutation-{seed}-{index}-{number}.bin").write_bytes(data)
    return statuses, failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.long.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=5000, help="schemathesis cases, at least (default 5000)")
    parser.add_argument("--mutations", type=int, default=2000, help="damaged uploads (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-failures", type=Path, default=None, help="directory for failing inputs")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with live_server() as server:
        print(f"server {server.url} (pid {server.pid})", flush=True)
        print(f"schemathesis: at least {args.cases} cases", flush=True)
        report = run_schemathesis(server, args.cases, args.seed)
        for failure in report.failures:
            print(f"  FAILURE {failure.operation} [{failure.phase}]\n{failure.message}\n", flush=True)
        print(f"mutations: {args.mutations} damaged uploads", flush=True)
        mutated, mutation_failures = run_mutations(server, args.mutations, args.seed, args.save_failures)
        alive = server.alive
    summary = {
        "schemathesis": {
            "cases": report.cases,
            "failures": len(report.failures),
            "seconds": round(report.seconds, 1),
            "statuses": {str(k): v for k, v in sorted(report.status_totals().items())},
        },
        "mutations": {
            "uploads": sum(mutated.values()),
            "failures": mutation_failures,
            "statuses": {str(k): v for k, v in sorted(mutated.items())},
        },
        "server_alive_at_the_end": alive,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0 if alive and not report.failures and not mutation_failures else 1


if __name__ == "__main__":
    sys.exit(main())
