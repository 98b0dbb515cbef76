"""Chapter 10: Fine-tuning, SFT to RLHF."""
