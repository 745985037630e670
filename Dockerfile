# CPU image of the chest X-ray service: docker build -t cxr-service:cpu .
# The GPU image is docker/Dockerfile.gpu; docker/README_SECTION.md has the build and run commands.

FROM python:3.11-slim AS build

# torch comes from TORCH_INDEX_URL (PyTorch's CPU-only index: PyPI's Linux wheels bundle CUDA, ~4 GB more),
# or from a CPU wheel placed in TORCH_WHEEL_DIR (inside the build context) where that index can't be reached.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_WHEEL_DIR=docker/wheels/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY ${TORCH_WHEEL_DIR}/ /tmp/wheels/
# torch alone comes from the torch index or wheel; its dependencies come from the default index with the rest.
RUN if ls /tmp/wheels/torch-*.whl >/dev/null 2>&1; then \
        pip install --no-compile --no-deps --no-index --find-links /tmp/wheels "torch==${TORCH_VERSION}"; \
    else \
        pip install --no-compile --no-deps --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi

# The dependencies of pyproject.toml, before the code so that a code change rebuilds only the last layers;
# constraints.txt pins them to the versions the smoke test last passed with.
# The wheel's C++ headers and its own C++ test binaries (~190 MB) serve extension builds and torch's test
# suite only; torch_shm_manager is the one program in torch/bin that torch itself runs.
COPY pyproject.toml docker/constraints.txt /tmp/src/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/src/requirements.txt \
 && pip install --no-compile --find-links /tmp/wheels \
        --constraint /tmp/src/constraints.txt --requirement /tmp/src/requirements.txt \
 && python -c "import sys, torch; sys.exit(torch.version.cuda and f'CUDA build of torch ({torch.version.cuda}) in the CPU image')" \
 && torch_dir="$(python -c 'import os, torch; print(os.path.dirname(torch.__file__))')" \
 && rm -rf "${torch_dir}/include" "${torch_dir}/test" /tmp/wheels \
 && find "${torch_dir}/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +

COPY ml/ /tmp/src/ml/
COPY service/ /tmp/src/service/
# Byte-code for the modules the server imports, not for every module of every package (pip's default would
# add ~170 MB, mostly sympy and torch modules never loaded): with a read-only root filesystem at run time
# the rest is compiled in memory when first imported.
RUN pip install --no-compile --no-deps /tmp/src \
 && python -c "import service.__main__, service.server, onnxruntime, uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on"

COPY weights/ /opt/weights/
RUN chmod -R a+rX /opt/weights


FROM python:3.11-slim

RUN groupadd --system --gid 10001 cxr \
 && useradd --system --no-log-init --uid 10001 --gid cxr --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin cxr

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/weights /app/weights

# Every setting is an environment variable (CXR_*, see .env.example), host and port included; these are the
# image's defaults.
ENV PATH=/opt/venv/bin:$PATH \
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
