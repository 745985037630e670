"""The source-shift monitor through the running service: ``python -m ml.studies.site_streams``.

Starts ``python -m service`` with the default settings and the shipped weights, and sends films one at a
time, each stream under its own ``X-CXR-Site``, as a hospital's system would:

- each source of a test set with sources (``../shared/data/external-dev``), shuffled, and all of them mixed
  as one site: how many answers before the alarm, and the share of answers flagged (out of scope or
  uncertain) from the site's 17th answer on;
- the validation side's ``assess`` half, which chose none of the monitor's numbers, standing in for a
  familiar hospital: in the database's manifest order (each source's films together), and its COVID
  films alone: the share of answers carrying ``unfamiliar_source``, and flagged for any reason;
- 2,000 requests under 2,000 new site names: the site labels left on ``/metrics`` and the memory added.

The database's WebP files are sent as PNG (lossless: the same pixels); the test set's files as they are.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from harness.live import LiveServer
from ml.data import Sample, discover
from ml.gate.data import split_sides
from ml.gate.monitor import manifest_order

logger = logging.getLogger(__name__)

FLAGGED_FROM = 17
"""The share flagged counts a site's answers from this one on (its first full window is the 16th)."""


def body_of(path: Path) -> tuple[bytes, str]:
    """The file as the service takes it: PNG and JPEG as they are, anything else re-encoded as PNG."""
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data, "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return data, "image/jpeg"
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


def stream(client: httpx.Client, site: str, samples: list[Sample]) -> dict[str, Any]:
    """Send ``samples`` in order under ``site``; the monitor's figures for the stream."""
    flagged, unfamiliar, first_alarm = [], [], None
    for n, sample in enumerate(samples, start=1):
        body, kind = body_of(sample.path)
        response = client.post("/predict", content=body, headers={"Content-Type": kind, "X-CXR-Site": site})
        response.raise_for_status()
        assessment = response.json()["assessment"]
        flagged.append(not assessment["in_scope"] or assessment["uncertain"])
        unfamiliar.append("unfamiliar_source" in assessment["reasons"])
        if unfamiliar[-1] and first_alarm is None:
            first_alarm = n
    later = flagged[FLAGGED_FROM - 1 :]
    return {
        "films": len(samples),
        "first_alarm_at": first_alarm,
        "flagged_from_17th": round(float(np.mean(later)), 4) if later else None,
        "unfamiliar_source": round(float(np.mean(unfamiliar)), 4),
        "flagged": round(float(np.mean(flagged)), 4),
    }


def many_sites(server: LiveServer, client: httpx.Client, sample: Sample, count: int) -> dict[str, Any]:
    """``count`` requests, each under a new site name: labels left on /metrics, memory added."""
    body, kind = body_of(sample.path)
    before = server.rss_bytes()
    for i in range(count):
        headers = {"Content-Type": kind, "X-CXR-Site": f"new-site-{i:05d}"}
        client.post("/predict", content=body, headers=headers).raise_for_status()
    text = server.metrics_text()
    labels = {line.split('site="', 1)[1].split('"', 1)[0] for line in text.splitlines() if 'site="' in line}
    return {
        "requests": count,
        "site_labels": len(labels),
        "rss_added_mb": (server.rss_bytes() - before) / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.studies.site_streams", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/covid-radiography"))
    parser.add_argument("--split", type=Path, default=Path("weights/validation/split.csv"))
    parser.add_argument("--external", type=Path, default=Path("../shared/data/external-dev"))
    parser.add_argument("--sites", type=int, default=2000, help="new site names to send (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="the order of each test-set source")
    parser.add_argument("--out", type=Path, default=Path("weights/monitor/site_streams.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rng = np.random.default_rng(args.seed)
    external = discover(args.external).samples
    _, (_, assess) = split_sides(args.data, args.split)
    familiar = manifest_order(assess)
    streams: dict[str, list[Sample]] = {
        f"external-dev {source}": [
            external[i] for i in rng.permutation(len(external)) if external[i].source == source
        ]
        for source in sorted({s.source for s in external})
    }
    streams["external-dev mixed"] = [external[i] for i in rng.permutation(len(external))]
    streams["validation assess, manifest order"] = familiar
    streams["validation assess, COVID only"] = [s for s in familiar if s.label == 0]
    results: dict[str, Any] = {"streams": {}}
    with LiveServer({}) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for site, samples in streams.items():
            logger.info("streaming %d films as %r", len(samples), site)
            results["streams"][site] = stream(client, site.replace(" ", "-").replace(",", ""), samples)
            print(site, results["streams"][site], flush=True)
        if args.sites:
            results["many_sites"] = many_sites(server, client, familiar[0], args.sites)
            print("many sites", results["many_sites"], flush=True)
        results["model"] = client.get("/model").json()["monitor"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
