"""Training: the CNN's architecture, its augmentation and BatchNorm layers, the fit loop, callbacks,
exact resume and distribution strategies."""
