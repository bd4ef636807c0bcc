"""What every area shares: params validation, atomic outputs, the split format and its constants,
the MNIST CSV format, plotting set-up, and the command-line edge. Imports no other area."""
