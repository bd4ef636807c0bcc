"""Using a trained model: prediction on a person's own images and CSV files, and the export."""
