"""Data flow: prepared splits, oversampling, corrupted and out-of-distribution sets."""
