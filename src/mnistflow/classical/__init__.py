"""Classical baselines (scikit-learn) and their comparison with the CNN."""
