"""The malloc tuning that keeps a forward pass's activations from page-faulting in on every request."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from ml.gradcam import predict_with_cam
from ml.model import build_model
from service.allocator import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_forward_pass_reuses_the_memory_of_the_last_one() -> None:
    assert keep_freed_memory()
    model = build_model("paper_cnn").eval().to(memory_format=torch.channels_last)
    inputs = torch.zeros(1, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    for _ in range(3):  # the first passes fault their pages in
        predict_with_cam(model, inputs)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        predict_with_cam(model, inputs)
    faults_per_pass = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    # Untuned, glibc returns the activations to the kernel: about 3,000 faults per pass on this model.
    assert faults_per_pass < 300
