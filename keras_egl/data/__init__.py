"""Data: loaders for the real formats (bundled and local) and seeded generators that stand in for unavailable data.

Import the module you need (``keras_egl.data.decoy_mnist``, ``toy_colors``,
``iris_cancer``, ``newsgroups``, ``fewshot``, ``feedback_decoy``, ``images``,
``molecules``, ``forum``, ``mnist``, ``confounded``); nothing here downloads.

``confounded.confounded_task`` builds the shortcut tasks of the cross-method
benchmark (decoy_mnist, colour_position, isic_like) in one split format
(train / val / test / counterfactual test_cf / train_clean, annotation budget,
clean or noisy masks).
"""
