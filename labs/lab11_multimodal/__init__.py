"""lab-11 Multimodal foundations: ViT patches, a tiny CLIP, fusion families, DDPM, log-mel audio, eval, cost."""
