"""The denoising pipeline's stages: training and inference."""
