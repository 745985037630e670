"""``python -m bench.peer [--host H] [--port P]``: the paper-style peer the benchmark compares against.

How a research web page serves a CNN with Grad-CAM: Flask's threaded server, each request handled on its
own in its thread; torch eager at batch 1 behind a lock (the package's hooks keep one request's activations
on the shared model): a prediction pass, then Grad-CAM from the ``grad-cam`` package (forward and backward
hooks, a second forward pass and a backward); its ``show_cam_on_image`` overlay on the model's 224 px crop,
a PNG from Pillow, JSON from Flask. It serves the same weights with the same decoding and preprocessing as
the service, so that only the serving differs.

The benchmark's only: nothing in the service imports it. The weights come from ``CXR_WEIGHTS_PATH`` (as
:class:`harness.live.LiveServer` passes settings) or ``--weights``, the device from ``CXR_DEVICE``
(``auto``: CUDA when there is one).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flask import Flask, jsonify, request
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from ml.decoding import ALL_KINDS, DecodeLimits, decode_image
from ml.device import resolve_device
from ml.model import load_weights
from ml.preprocessing import eval_transform

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "cxr-paper-cnn.safetensors"
_LIMITS = DecodeLimits(max_pixels=50_000_000, min_side=1)


def create_peer(weights: Path, device: torch.device) -> Flask:
    loaded = load_weights(weights)
    model, spec, classes = (
        loaded.model.to(device).eval(),
        loaded.metadata.preprocessing,
        loaded.metadata.classes,
    )
    cam = GradCAM(model=model, target_layers=[model.body[-1]])
    model_lock = threading.Lock()
    app = Flask(__name__)

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    def predict() -> Any:
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="no file"), 400
        gray = decode_image(upload.read(), _LIMITS, allowed=ALL_KINDS, measure_colour=False).pixels
        x = eval_transform(torch.from_numpy(gray), spec)[None].to(device)
        wanted = request.args.get("gradcam", "true") == "true"
        with model_lock:
            with torch.no_grad():
                probabilities = torch.softmax(model(x), dim=1)[0]
            index = int(probabilities.argmax())
            heatmap = cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0] if wanted else None
        body: dict[str, Any] = {
            "label": classes[index],
            "probabilities": dict(zip(classes, map(float, probabilities), strict=True)),
        }
        if heatmap is not None:
            picture = np.clip(x[0, 0].cpu().numpy() * spec.std + spec.mean, 0.0, 1.0)
            rgb = np.repeat(picture[:, :, None], 3, axis=2).astype(np.float32)
            buffer = io.BytesIO()
            Image.fromarray(show_cam_on_image(rgb, heatmap, use_rgb=True)).save(buffer, format="PNG")
            body["overlay_png_base64"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        return jsonify(body)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--weights", type=Path, default=Path(os.environ.get("CXR_WEIGHTS_PATH", DEFAULT_WEIGHTS))
    )
    args = parser.parse_args(argv)
    device = resolve_device(os.environ.get("CXR_DEVICE", "auto"), setting="CXR_DEVICE")
    create_peer(args.weights, device).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
