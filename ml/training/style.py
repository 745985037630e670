"""Style randomisation in training, so that a source's look cannot predict the label.

The training COVID and Normal films come from different hospitals, so their intensity curves, sharpness and
noise tell the classes apart as well as the lungs do. Two augmentations take that shortcut away:

* :func:`histogram_match` gives an image the intensity distribution of another training image of any class
  (pixel ranks kept, values taken from the other image), so a class has no grey-level signature;
* :class:`MixStyle` (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021) mixes the per-channel
  feature mean and standard deviation of two images after the first blocks, where those statistics encode
  texture and contrast rather than anatomy.

Both run on the batch, on its device, from a seeded generator, so a resumed run draws the same.
"""

from __future__ import annotations

import numpy as np
import torch


def histogram_match(batch: torch.Tensor, prob: float, generator: torch.Generator) -> torch.Tensor:
    """``[N, 1, H, W]`` in [0, 1]: each image, with probability ``prob``, takes another's intensities.

    The image keeps the order of its pixels (its anatomy) and takes the sorted values of a randomly chosen
    image of the batch; the result is exactly that image's histogram.
    """
    n = batch.shape[0]
    if prob <= 0 or n < 2:
        return batch
    chosen = torch.rand(n, generator=generator, device=batch.device) < prob
    if not bool(chosen.any()):
        return batch
    partner = torch.randperm(n, generator=generator, device=batch.device)
    flat = batch.flatten(1).float()
    values, order = flat.sort(dim=1)
    matched = torch.empty_like(flat).scatter_(1, order, values[partner])
    out = torch.where(chosen[:, None], matched, flat)
    return out.view(batch.shape).to(batch.dtype)


class MixStyle:
    """Feature-statistics mixing, called by :meth:`ml.model.PaperCNN.features` at each block's end.

    ``prob``: chance that a batch is mixed at a block; ``alpha``: the Beta distribution's parameter for the
    mixing weight; ``blocks``: how many of the first blocks are mixed (the later ones carry the content).
    """

    def __init__(self, prob: float, alpha: float, blocks: int, seed: int) -> None:
        self.prob = prob
        self.alpha = alpha
        self.blocks = blocks
        self.rng = np.random.default_rng([seed, 0x3175])

    def reseed(self, seed: int, epoch: int) -> None:
        self.rng = np.random.default_rng([seed, epoch, 0x3175])

    def __call__(self, x: torch.Tensor, block: int) -> torch.Tensor:
        if block >= self.blocks or self.rng.random() >= self.prob or x.shape[0] < 2:
            return x
        n = x.shape[0]
        mu = x.mean(dim=(2, 3), keepdim=True)
        sigma = (x.var(dim=(2, 3), keepdim=True) + 1e-6).sqrt()
        # The statistics are constants for the gradient, as in the paper: the mixing is a perturbation only.
        mu, sigma = mu.detach(), sigma.detach()
        lam = torch.from_numpy(self.rng.beta(self.alpha, self.alpha, size=(n, 1, 1, 1)))
        lam = lam.to(x.device, x.dtype)
        partner = torch.from_numpy(self.rng.permutation(n)).to(x.device)
        mixed_mu = lam * mu + (1 - lam) * mu[partner]
        mixed_sigma = lam * sigma + (1 - lam) * sigma[partner]
        return (x - mu) / sigma * mixed_sigma + mixed_mu
