"""Training: the loop, its data, checkpoints, configuration, DDP, style and shift augmentation."""
