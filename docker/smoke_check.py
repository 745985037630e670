"""Checks a running container as a client would: waits for /readyz, then calls the API and checks the answers.

Standard library only, so that CI can run it with any Python 3 next to the engine.
Usage: python3 docker/smoke_check.py --url http://127.0.0.1:PORT [--api-key KEY] [--started-at EPOCH]
                                     [--container NAME]
Prints one JSON line: {"ready_s": seconds from --started-at (or from now) to the first 200 of /readyz, ...}.
Exits non-zero with the reason on stderr when a check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CheckFailedError(AssertionError):
    pass


def make_png(width: int = 320, height: int = 256) -> bytes:
    """An 8-bit greyscale PNG with a smooth pattern, big enough for the service's minimum side."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        rows.extend(int(127 + 120 * math.sin(x / 17) * math.cos(y / 23)) for x in range(width))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def multipart(field: str, filename: str, content_type: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def container_running(name: str) -> bool:
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "true"


def wait_ready(base: str, started_at: float, timeout: float, container: str | None) -> float:
    deadline = time.time() + timeout
    last = "no answer"
    while time.time() < deadline:
        if container and not container_running(container):
            raise CheckFailedError(
                f"container {container} stopped before /readyz answered 200 (last: {last})"
            )
        try:
            status, _, body = request(f"{base}/readyz", timeout=2)
            if status == 200:
                return time.time() - started_at
            last = f"{status} {body[:200]!r}"
        except OSError as err:
            last = str(err)
        time.sleep(0.1)
    raise CheckFailedError(f"/readyz not 200 within {timeout:.0f} s (last: {last})")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailedError(message)


def check_prediction(body: dict[str, Any]) -> None:
    for key in ("label", "probabilities", "gradcam", "model", "request_id"):
        expect(key in body, f"/predict answer has no {key!r}: {sorted(body)}")
    probs = body["probabilities"]
    expect(
        isinstance(probs, dict) and len(probs) >= 2,
        f"probabilities is not a class -> probability map: {probs}",
    )
    expect(all(0.0 <= p <= 1.0 for p in probs.values()), f"a probability is outside [0, 1]: {probs}")
    expect(abs(sum(probs.values()) - 1.0) < 1e-3, f"probabilities do not sum to 1: {probs}")
    expect(
        body["label"] == max(probs, key=probs.__getitem__),
        f"label {body['label']!r} is not the argmax of {probs}",
    )
    cam = body["gradcam"]
    expect(
        isinstance(cam, dict) and cam.get("target") == body["label"],
        f"gradcam does not explain the label: {cam}",
    )
    png = base64.b64decode(cam["overlay_png_base64"], validate=True)
    expect(png.startswith(PNG_SIGNATURE), "gradcam.overlay_png_base64 is not a PNG")
    expect(bool(body["model"].get("sha256")), f"model has no sha256: {body['model']}")
    expect(bool(body["request_id"]), "empty request_id")


def run(
    base: str, api_key: str | None, started_at: float, timeout: float, container: str | None
) -> dict[str, Any]:
    ready_s = wait_ready(base, started_at, timeout, container)

    status, _, body = request(f"{base}/healthz")
    expect(status == 200, f"/healthz answered {status}: {body[:200]!r}")

    png_body, content_type = multipart("file", "smoke.png", "image/png", make_png())
    if api_key:
        status, _, body = request(f"{base}/predict", png_body, {"Content-Type": content_type})
        expect(status == 401, f"/predict without the API key answered {status}, not 401")
    headers = {"Content-Type": content_type}
    if api_key:
        headers["X-API-Key"] = api_key
    t0 = time.perf_counter()
    status, resp_headers, body = request(f"{base}/predict", png_body, headers, timeout=60)
    predict_s = time.perf_counter() - t0
    expect(status == 200, f"/predict answered {status}: {body[:500]!r}")
    expect(
        resp_headers.get("content-type", "").startswith("application/json"),
        f"/predict Content-Type {resp_headers.get('content-type')!r}",
    )
    prediction = json.loads(body)
    check_prediction(prediction)

    auth = {"X-API-Key": api_key} if api_key else {}
    status, _, body = request(f"{base}/metrics", headers=auth)
    expect(status == 200, f"/metrics answered {status}")
    expect(b"# TYPE" in body, "/metrics is not in the Prometheus text format")

    return {
        "ready_s": round(ready_s, 2),
        "predict_s": round(predict_s, 3),
        "label": prediction["label"],
        "model": prediction["model"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="a key from the container's CXR_API_KEYS, if it has any")
    parser.add_argument("--started-at", type=float, help="epoch seconds the container was started")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for /readyz")
    parser.add_argument("--container", help="stop waiting as soon as this Docker container is not running")
    args = parser.parse_args()
    started_at = args.started_at if args.started_at is not None else time.time()
    try:
        result = run(args.url.rstrip("/"), args.api_key, started_at, args.timeout, args.container)
    except (CheckFailedError, OSError, ValueError, KeyError) as err:
        print(f"smoke check failed: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
