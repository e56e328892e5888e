"""Cost ratios of explanation-guided training, measured side by side (``python -m benchmarks``)."""
