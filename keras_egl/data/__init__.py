"""Data: loaders for the real formats (bundled and local) and seeded generators that stand in for unavailable data.

Import the module you need (``keras_egl.data.decoy_mnist``, ``toy_colors``,
``iris_cancer``, ``newsgroups``, ``fewshot``, ``feedback_decoy``, ``images``,
``molecules``, ``forum``, ``mnist``); nothing here downloads.
"""
