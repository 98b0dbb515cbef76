"""Chapter 01: Math for ML (vectors, matrices, tensors, calculus, numerics, probability)."""
