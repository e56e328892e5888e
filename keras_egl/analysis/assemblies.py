"""Neuronal-assembly analyses of BEAN (thesis ch. 2, §2.3.1–2.3.2, Figs. 2.2–2.6).

Reference: Gao, Ascoli & Zhao, *Frontiers in Neurorobotics* 15:68 (2021).

The "last dense layer" is the layer feeding the classifier; each of its
``N`` neurons is represented by its outgoing weight row ``W[i, :]`` of the
classifier kernel (``N × n_classes``; 84×10 for LeNet-5, 500×10 for the MLP,
512×10 for ResNet-18).

* :func:`assembly_clusters` — K-means (k = 10) + silhouette on the rows
  (thesis: ≈ 0.9 with BEAN, ≈ 0.5 vanilla).
* :func:`tsne_layout` — 2-D t-SNE layout of the rows (Fig. 2.2).
* :func:`coactivation_maps` — mean activation of every neuron per class (Fig. 2.3).
* :func:`class_selectivity` — ``(µ_max − µ_−max)/(µ_max + µ_−max)`` and the
  preferred class of each neuron (Fig. 2.4).
* :func:`ablation_matrix` — accuracy change per class when one assembly is
  zeroed (Fig. 2.5; zeroing the activations is our assumption).
* :func:`reorder_by_assembly` / :func:`plot_reordered_correlation` — the
  reordered ``A`` heat-map (Fig. 2.6a).
* :func:`sparsity_ratio`, :func:`alive_neurons`, :func:`flops_count`,
  :func:`efficiency_ratios` — parameter and FLOPs ratios of Table 2.1 with an
  explicit zero threshold (the thesis gives none; Adam never yields exact
  zeros).
"""

import numpy as np

from keras_egl.validation import check_float, check_positive_int

__all__ = [
    "assembly_clusters",
    "tsne_layout",
    "coactivation_maps",
    "class_selectivity",
    "ablation_matrix",
    "reorder_by_assembly",
    "plot_assemblies",
    "plot_coactivation_maps",
    "plot_reordered_correlation",
    "plot_ablation",
    "sparsity_ratio",
    "alive_neurons",
    "flops_count",
    "efficiency_ratios",
]


def _np(x, name=None):
    if hasattr(x, "numpy"):
        x = x.numpy()
    if name is None:
        return np.asarray(x, dtype=np.float64)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold real numbers; received dtype {arr.dtype}.")
    return arr.astype(np.float64)


def _check_matrix(x, name):
    x = _np(x, name)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D; received shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must hold finite values; received NaN or infinite entries.")
    return x


def _check_labels(y, n, name="y"):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"`{name}` must be 1-D with {n} entries; received shape {y.shape}.")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be integer labels; received dtype {y.dtype}.")
    if y.size and (not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or y.min() < 0):
        raise ValueError(f"`{name}` must be non-negative whole-number labels; received values such as "
                         f"{np.unique(y)[:5].tolist()}.")
    return y.astype(np.int64)


def _n_classes(n_classes, y):
    if n_classes is None:
        return int(y.max() + 1) if y.size else 0
    n_classes = check_positive_int(n_classes, "n_classes")
    if y.size and y.max() >= n_classes:
        raise ValueError(f"`n_classes`={n_classes} is smaller than the labels need (max label {y.max()}).")
    return n_classes


def _check_kernels(kernels, name="kernels"):
    """A non-empty list of 2-D weight arrays."""
    if isinstance(kernels, (str, bytes, np.ndarray)) or not isinstance(kernels, (list, tuple)):
        raise TypeError(f"`{name}` must be a list of 2-D kernels (one per layer); received "
                        f"{type(kernels).__name__}.")
    if not kernels:
        raise ValueError(f"`{name}` holds no weights (empty list).")
    out = []
    for i, k in enumerate(kernels):
        w = _np(k, name)
        if w.ndim != 2:
            raise ValueError(f"`{name}`[{i}] must be a 2-D (N_in, N_out) kernel; received shape {w.shape}.")
        out.append(w)
    return out


def assembly_clusters(kernel, k=10, seed=0, n_init=10):
    """K-means on the rows of the outgoing kernel and the silhouette score.

    Args:
        kernel: ``(N, M)`` outgoing weights (e.g. LeNet's ``fc3`` kernel, 84×10).
        k: clusters (10 in the thesis).
        seed: K-means seed.
        n_init: K-means restarts.

    Returns:
        ``(labels, silhouette)``: ``(N,)`` int cluster labels and the mean
        silhouette coefficient (``nan`` if it is undefined, e.g. one cluster).

    Example:
        >>> labels, sil = assembly_clusters(model.get_layer("fc3").kernel, k=10)
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    w = _check_matrix(kernel, "kernel")
    k = check_positive_int(k, "k", minimum=0)
    n_init = n_init if n_init == "auto" else check_positive_int(n_init, "n_init")
    if not 2 <= k <= w.shape[0]:
        raise ValueError(f"`k` must be in [2, N={w.shape[0]}]; received k={k}.")
    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(w)
    n_lab = len(np.unique(labels))
    sil = float(silhouette_score(w, labels)) if 2 <= n_lab < w.shape[0] else float("nan")
    return labels, sil


def tsne_layout(kernel, seed=0, perplexity=30.0):
    """2-D t-SNE embedding of the rows of ``kernel`` (Fig. 2.2 layout).

    ``perplexity`` is clipped below the number of rows so small layers work.

    Returns:
        ``(N, 2)`` coordinates.
    """
    from sklearn.manifold import TSNE

    w = _check_matrix(kernel, "kernel")
    if w.shape[0] < 3:
        raise ValueError(f"t-SNE needs at least 3 neurons (rows of `kernel`); received {w.shape[0]}.")
    perplexity = check_float(perplexity, "perplexity", low=0.0, low_inclusive=False)
    perplexity = float(min(perplexity, max(1.0, (w.shape[0] - 1) / 3.0)))
    # Layers have at most a few hundred neurons: the exact method is cheap and,
    # unlike Barnes-Hut's OpenMP loop, does not stall on a busy shared CPU.
    method = "exact" if w.shape[0] <= 1000 else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca",
                method=method).fit_transform(w)


def coactivation_maps(activations, y, n_classes=None):
    """Mean activation of each neuron over the samples of each class (Fig. 2.3).

    Args:
        activations: ``(S, N)`` activations of the last dense layer.
        y: ``(S,)`` labels.
        n_classes: number of classes (default ``max(y) + 1``).

    Returns:
        ``(n_classes, N)``; a class without samples gives a row of zeros.
    """
    h = _check_matrix(activations, "activations")
    y = _check_labels(y, h.shape[0])
    n_classes = _n_classes(n_classes, y)
    out = np.zeros((n_classes, h.shape[1]))
    for c in range(n_classes):
        m = y == c
        if m.any():
            out[c] = h[m].mean(axis=0)
    return out


def class_selectivity(activations, y, n_classes=None):
    """Class selectivity index per neuron (Fig. 2.4).

    ``selectivity = (µ_max − µ_−max) / (µ_max + µ_−max)`` where ``µ_max`` is the
    highest class-conditional mean activation and ``µ_−max`` the mean of the
    other classes' means. A silent neuron (0/0) gets selectivity 0.

    Returns:
        ``(selectivity, preferred_class)``, both ``(N,)``.
    """
    maps = coactivation_maps(activations, y, n_classes)
    pref = np.argmax(maps, axis=0)
    mu_max = maps[pref, np.arange(maps.shape[1])]
    mu_rest = (maps.sum(axis=0) - mu_max) / max(maps.shape[0] - 1, 1)
    den = mu_max + mu_rest
    sel = np.divide(mu_max - mu_rest, den, out=np.zeros_like(den), where=np.abs(den) > 1e-12)
    return sel, pref


def ablation_matrix(head, activations, y, groups, n_classes=None):
    """Per-class accuracy change when each neuron group is ablated (Fig. 2.5).

    Args:
        head: callable mapping ``(S, N)`` activations to ``(S, n_classes)``
            logits — e.g. the final ``Dense`` layer itself.
        activations: ``(S, N)`` activations of the last dense layer.
        y: ``(S,)`` labels.
        groups: ``(N,)`` group id per neuron (e.g. preferred class); ids
            ``0..G-1``.
        n_classes: number of classes.

    Returns:
        ``(G, n_classes)`` matrix: row ``g`` = per-class accuracy after zeroing
        group ``g`` minus the intact per-class accuracy (in ``[-1, 1]``).
    """
    if not callable(head):
        raise TypeError(f"`head` must be callable (activations -> logits); received {type(head).__name__}.")
    h = _check_matrix(activations, "activations").astype(np.float32)
    y = _check_labels(y, h.shape[0])
    groups = _check_labels(groups, h.shape[1], "groups")
    n_classes = _n_classes(n_classes, y)
    n_groups = int(groups.max() + 1)

    def per_class_acc(hh):
        pred = np.argmax(_np(head(hh)), axis=1)
        return np.array([np.mean(pred[y == c] == c) if np.any(y == c) else np.nan for c in range(n_classes)])

    base = per_class_acc(h)
    out = np.zeros((n_groups, n_classes))
    for g in range(n_groups):
        hh = h.copy()
        hh[:, groups == g] = 0.0
        out[g] = per_class_acc(hh) - base
    return out


def reorder_by_assembly(matrix, labels):
    """Reorder a square ``(N, N)`` matrix so each assembly's neurons are contiguous.

    Returns:
        ``(reordered, order)``.
    """
    a = _check_matrix(matrix, "matrix")
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"`matrix` must be square; received shape {a.shape}.")
    labels = _check_labels(labels, a.shape[0], "labels")
    order = np.argsort(labels, kind="stable")
    return a[np.ix_(order, order)], order


# ----------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_assemblies(panels, path, title=None):
    """t-SNE scatter plots coloured by label, one panel per ``(name, coords, labels)``."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
    for ax, (name, coords, labels) in zip(axes[0], panels):
        ax.scatter(coords[:, 0], coords[:, 1], c=labels, cmap="tab10", s=14)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_coactivation_maps(coords, maps, path):
    """One subplot per class: neurons at their t-SNE positions, coloured by mean activation."""
    plt = _plt()
    n = maps.shape[0]
    cols = min(n, 5)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    vmax = float(np.max(maps)) if np.max(maps) > 0 else 1.0
    for c in range(rows * cols):
        ax = axes[c // cols][c % cols]
        ax.set_xticks([])
        ax.set_yticks([])
        if c < n:
            ax.scatter(coords[:, 0], coords[:, 1], c=maps[c], cmap="viridis", vmin=0, vmax=vmax, s=12)
            ax.set_title(f"class {c}")
        else:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_reordered_correlation(matrix, labels, path, title="A reordered by assembly"):
    """Heat-map of ``A`` with rows/columns grouped by assembly (Fig. 2.6a)."""
    plt = _plt()
    a, order = reorder_by_assembly(matrix, labels)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(a, cmap="magma")
    sorted_labels = np.asarray(labels)[order]
    for b in np.flatnonzero(np.diff(sorted_labels)) + 0.5:
        ax.axhline(b, color="w", lw=0.4)
        ax.axvline(b, color="w", lw=0.4)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_ablation(matrices, path):
    """Ablation matrices side by side (rows: ablated group, columns: class)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(matrices), figsize=(4 * len(matrices), 3.6), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices):
        im = ax.imshow(m, cmap="Blues_r", vmin=-1, vmax=0)
        ax.set_title(name)
        ax.set_xlabel("class")
        ax.set_ylabel("ablated assembly")
    fig.colorbar(im, ax=list(axes[0]))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- efficiency (Table 2.1)


def _check_threshold(threshold):
    return check_float(threshold, "threshold", low=0.0)


def sparsity_ratio(kernels, threshold=1e-3):
    """Fraction of kernel entries with ``|w| > threshold`` (biases excluded).

    Args:
        kernels: list of weight arrays.
        threshold: entries with ``|w| <= threshold`` count as zero.

    Returns:
        ``non-zero / total`` in ``[0, 1]``.
    """
    threshold = _check_threshold(threshold)
    ws = _check_kernels(kernels)
    total = sum(w.size for w in ws)
    if total == 0:
        raise ValueError("`kernels` holds no weights.")
    return float(sum(np.sum(np.abs(w) > threshold) for w in ws) / total)


def alive_neurons(kernels, threshold=1e-3):
    """Which neurons of a dense chain survive pruning.

    ``kernels[l]`` is ``(N_l, N_{l+1})``. A neuron of layer ``l`` is pruned if
    all its incoming or all its outgoing weights are (thresholded) zero
    (Table 2.1's definition); the input layer has no incoming weights and the
    output layer no outgoing ones, so only one side counts there. Pruning
    propagates: a neuron whose only live inputs come from pruned neurons is
    pruned too.

    Returns:
        List of boolean masks, one per layer (``len(kernels) + 1``).
    """
    threshold = _check_threshold(threshold)
    nz = [np.abs(w) > threshold for w in _check_kernels(kernels)]
    for l in range(len(nz) - 1):
        if nz[l].shape[1] != nz[l + 1].shape[0]:
            raise ValueError(f"`kernels`: kernel {l} has {nz[l].shape[1]} outputs but kernel {l + 1} has "
                             f"{nz[l + 1].shape[0]} inputs (not a dense chain).")
    alive = [np.ones(nz[0].shape[0], bool)] + [np.ones(k.shape[1], bool) for k in nz]
    for _ in range(len(nz) + 1):  # propagate until stable
        changed = False
        for l in range(len(alive)):
            a = alive[l].copy()
            if l > 0:  # incoming from alive neurons
                a &= (nz[l - 1] & alive[l - 1][:, None]).any(axis=0)
            if l < len(nz):  # outgoing to alive neurons
                a &= (nz[l] & alive[l + 1][None, :]).any(axis=1)
            changed |= bool((a != alive[l]).any())
            alive[l] = a
        if not changed:
            break
    return alive


def flops_count(kernels, threshold=1e-3):
    """Forward multiply-adds of a dense chain after removing pruned neurons.

    ``Σ_l 2 · alive_l · alive_{l+1}`` (dense matmuls over surviving neurons).
    """
    alive = alive_neurons(kernels, threshold)
    return float(sum(2.0 * alive[l].sum() * alive[l + 1].sum() for l in range(len(kernels))))


def efficiency_ratios(kernels, reference_kernels=None, threshold=1e-3):
    """Parameter and FLOPs ratios of Table 2.1, normalised by a reference model.

    Args:
        kernels: the model's dense kernels in order.
        reference_kernels: the vanilla model's kernels (default: the dense
            architecture, i.e. every weight and neuron kept).
        threshold: the explicit zero threshold.

    Returns:
        dict with ``parameter`` (non-zero ratio / reference's), ``flops``,
        ``alive_neurons`` (per layer) and ``threshold``.
    """
    threshold = _check_threshold(threshold)
    ws = _check_kernels(kernels)
    if reference_kernels is not None:
        refs = _check_kernels(reference_kernels, "reference_kernels")
        if [w.shape for w in refs] != [w.shape for w in ws]:
            raise ValueError(f"`reference_kernels` must have the shapes of `kernels` (the same architecture); "
                             f"received {[w.shape for w in refs]} vs {[w.shape for w in ws]}.")
    p = sparsity_ratio(kernels, threshold)
    f = flops_count(kernels, threshold)
    if reference_kernels is None:
        p_ref = 1.0
        f_ref = float(sum(2.0 * _np(k).shape[0] * _np(k).shape[1] for k in kernels))
    else:
        p_ref = sparsity_ratio(reference_kernels, threshold)
        f_ref = flops_count(reference_kernels, threshold)
    return {
        "parameter": float(np.divide(p, p_ref)) if p_ref > 0 else float("nan"),
        "flops": float(f / f_ref) if f_ref > 0 else float("nan"),
        "alive_neurons": [int(a.sum()) for a in alive_neurons(kernels, threshold)],
        "threshold": threshold,
    }
