"""Evaluation of a trained model: metrics, curves, figures, and the review report."""
