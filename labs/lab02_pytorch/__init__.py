"""Chapter 02: PyTorch fluency (tensors, autograd, the training loop, checkpoints, DDP, a bug bestiary)."""
