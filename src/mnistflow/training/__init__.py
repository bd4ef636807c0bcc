"""Training: what one epoch does is train.py read top to bottom, with model.py (the network) and
resume.py (the per-epoch checkpoint); config.py holds the params, augment.py and batch_norm.py
two layers the model is built from, distribute.py the multi-device strategies."""
