"""Analyses of trained models (neuronal assemblies, selectivity, ablation, sparsity)."""
