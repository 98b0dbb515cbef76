"""Chapter 04: Deep learning fundamentals (backprop, optimizers, init, normalization, from scratch)."""
