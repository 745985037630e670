"""Load a server that is already running (a container, a deployment) and read its memory:
``python -m bench.drive --url http://127.0.0.1:8000 --concurrency 4 --seconds 30 --pid PID``.

The benchmark (``python -m bench``) starts its own service; this drives any one, with the same closed-loop
clients and X-rays, and then prints throughput, latency and, given the server's process id on this machine
(``docker inspect -f '{{.State.Pid}}' NAME`` for a container), its resident memory after the load.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.inputs import DEFAULT_DATA_DIR, load_pngs
from bench.loadgen import LoadSpec, make_bodies, run_load
from bench.resources import status_bytes
from bench.stats import summarize

MEMORY_FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drive", description=__doc__)
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-gradcam", action="store_true")
    parser.add_argument("--api-key", help="sent as X-API-Key when the server wants one")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="X-rays to send, when present")
    parser.add_argument("--pid", type=int, help="the server's process id, to read its memory afterwards")
    args = parser.parse_args(argv)
    pngs, source = load_pngs(args.images, args.data)
    spec = LoadSpec(
        concurrency=args.concurrency,
        gradcam=not args.no_gradcam,
        max_requests=10**9,
        max_seconds=args.seconds,
        headers={"X-API-Key": args.api_key} if args.api_key else None,
    )
    result = asyncio.run(run_load(args.url.rstrip("/"), make_bodies(pngs), spec))
    latency = summarize(result.latencies_s)
    print(f"inputs: {source}")
    print(
        f"concurrency {result.concurrency}, Grad-CAM {result.gradcam}: {result.throughput:.1f} req/s, "
        f"{result.ok} ok, errors {result.errors or 0}, "
        f"p50 {latency.p50_ms:.1f} ms, p99 {latency.p99_ms:.1f} ms"
    )
    if args.pid is not None:
        fields = status_bytes(args.pid, MEMORY_FIELDS)
        print(", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in fields.items()))


if __name__ == "__main__":
    main()
