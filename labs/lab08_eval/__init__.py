"""Chapter 08: Evaluation systems."""
