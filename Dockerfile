# CPU image of the chest X-ray service: docker build -t cxr-service:cpu .
# No torch: the model runs in ONNX Runtime, written at start-up from the weights file's tensors with numpy.
# The GPU image (docker/Dockerfile.gpu) adds torch for CUDA.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# strip, for the symbols in uvloop's, Pillow's, httptools' and numpy's extensions (about 18 MB); in the build
# stage only, so its version does not matter.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*

# The dependencies of pyproject.toml, before the code so that a code change rebuilds only the last layers;
# constraints.txt pins them to the versions the smoke test last passed with. Then what nothing the server
# runs loads: sympy and mpmath (ONNX Runtime's symbolic shape tools, ~75 MB), ONNX Runtime's C library
# (35 MB: the Python module carries its own copy) and Python tools, onnx's test data and reference
# evaluator, numpy's tests (its _simd and *_tests extensions too), f2py and distutils, pydicom's structured
# report code tables (6 MB, for writing SR documents), Pillow's AVIF and font modules and their libraries;
# and the symbol tables of the extension modules (the dynamic symbols that loading needs stay; not those of
# the libraries wheels bundle in *.libs: their program headers were rewritten, and strip breaks them).
COPY pyproject.toml docker/constraints.txt /tmp/src/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/src/requirements.txt \
 && pip install --no-compile --constraint /tmp/src/constraints.txt --requirement /tmp/src/requirements.txt \
 && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None and 'torch in the CPU image')" \
 && pip uninstall --yes --quiet sympy mpmath \
 && s="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$s"/onnx/backend/test "$s"/onnx/reference \
        "$s"/onnxruntime/capi/libonnxruntime.so.* "$s"/onnxruntime/transformers "$s"/onnxruntime/tools \
        "$s"/onnxruntime/quantization "$s"/onnxruntime/datasets \
        "$s"/numpy/f2py "$s"/numpy/distutils "$s"/numpy/_core/_simd.* "$s"/numpy/_core/_*_tests.* \
        "$s"/pydicom/sr \
        "$s"/PIL/_avif.* "$s"/pillow.libs/libavif-* \
        "$s"/PIL/_imagingft.* "$s"/pillow.libs/libfreetype-* "$s"/pillow.libs/libharfbuzz-* \
 && find "$s"/numpy -type d -name tests -prune -exec rm -rf {} + \
 && find "$s" -type f -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +

COPY ml/ /tmp/src/ml/
COPY service/ /tmp/src/service/
# Byte-code for the modules the server imports, not for every module of every package: with a read-only
# root filesystem at run time the rest would be compiled in memory when first imported. pip and
# setuptools leave the runtime virtualenv last.
RUN pip install --no-compile --no-deps /tmp/src \
 && python -c "import service.__main__, service.server, service.main, service.runner, ml.engine.gate, onnxruntime, onnx.checker, PIL.Image, PIL.PngImagePlugin, PIL.JpegImagePlugin, pydicom, uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on" \
 && pip uninstall --yes --quiet setuptools pip

COPY weights/ /opt/weights/
RUN chmod -R a+rX /opt/weights


# The runtime's root filesystem: python:3.11-slim without what a server never reads (manual pages, docs,
# message catalogues: 51 MB on this project's stand-in base) and without the base's own pip and setuptools
# (the service runs from /opt/venv), copied into the final image as one layer, so that what is deleted here
# is not shipped in the layers underneath. The price: nodes share no base layer with other python images.
FROM python:3.11-slim AS runtime-root
RUN rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /usr/share/info/* \
 && python -m pip uninstall --yes --quiet pip setuptools \
 && groupadd --system --gid 10001 cxr \
 && useradd --system --no-log-init --uid 10001 --gid cxr --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin cxr


FROM scratch

# The whole root filesystem on purpose: see runtime-root above (a build stage's root holds no /proc or /sys).
# hadolint ignore=DL3067
COPY --from=runtime-root / /
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/weights /app/weights

# Every setting is an environment variable (CXR_*, see .env.example), host and port included; these are the
# image's defaults.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CXR_HOST=0.0.0.0 \
    CXR_PORT=8000 \
    CXR_DEVICE=cpu \
    CXR_WEIGHTS_PATH=/app/weights/cxr-paper-cnn.safetensors

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness only: /readyz (model loaded and warm) is for load balancers and Kubernetes' readiness probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CXR_PORT', '8000')}/healthz\", timeout=4)"]

ENTRYPOINT ["python", "-m", "service"]
