"""The training process's place: its device and, under ``torchrun``, its rank in the process group."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ml.device import resolve_device


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Wait for every rank, then leave the process group (nothing to do in a single process)."""
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def setup_distributed(requested: str) -> Dist:
    """Pick the device; under torchrun, join the process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(requested, setting="--device")
    if device.type == "cuda":
        # One GPU per process: torchrun's LOCAL_RANK says which.
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, device)
