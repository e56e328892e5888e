"""A callback that shows what the model looks at while it trains.

At the end of every ``every``-th epoch it explains a fixed batch and writes, per
sample, three panels — the input, the explanation map, and the map over the
input with the annotation mask's outline — to TensorBoard (``tf.summary.image``)
and/or PNG files.
"""

from pathlib import Path

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.validation import check_positive_int


def _to_display(img):
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] not in (3, 4):
        img = img.mean(-1)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def explanation_figure(images, maps, masks=None, titles=None):
    """A matplotlib figure with rows (input | map | overlay) per sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if np.ndim(images) < 3 or len(images) == 0:
        raise ValueError(f"`images` must be a non-empty batch of images (B, H, W[, C]); got shape "
                         f"{np.shape(images)}.")
    n = len(images)
    for name, seq in (("maps", maps), ("masks", masks), ("titles", titles)):
        if seq is not None and len(seq) < n:
            raise ValueError(f"`{name}` has {len(seq)} entries for {n} images (one per image).")
    fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n), squeeze=False)
    for i in range(n):
        img = _to_display(images[i])
        cmap = "gray" if img.ndim == 2 else None
        axes[i, 0].imshow(img, cmap=cmap)
        axes[i, 1].imshow(np.asarray(maps[i]), cmap="jet")
        axes[i, 2].imshow(img, cmap=cmap)
        m = np.asarray(maps[i])
        if m.shape[:2] == img.shape[:2]:
            axes[i, 2].imshow(m, cmap="jet", alpha=0.5)
        if masks is not None and np.asarray(masks[i]).shape[:2] == img.shape[:2]:
            mk = np.asarray(masks[i], dtype=np.float32)
            if mk.ndim == 3:
                mk = mk.max(-1)
            if mk.max() > mk.min():
                axes[i, 2].contour(mk, levels=[0.5], colors="white", linewidths=1)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
        if titles is not None:
            axes[i, 0].set_ylabel(str(titles[i]))
    for ax, t in zip(axes[0], ["input", "explanation", "overlay + mask"]):
        ax.set_title(t)
    fig.tight_layout()
    return fig


class ExplanationImages(keras.callbacks.Callback):
    """Write explanation images of a fixed batch at epoch end.

    Args:
      x: a batch of model inputs (or a dict with the model input key), at most
        ``max_images`` are used.
      masks: optional annotation masks ``(B, H, W)`` drawn as outlines.
      log_dir: TensorBoard log directory (``None`` to skip TensorBoard).
      png_dir: directory for ``epoch_XXX.png`` files (``None`` to skip PNGs).
      every: write every ``every`` epochs.
      max_images: number of samples shown.
      explain_fn: optional ``x -> maps``; defaults to ``model.explain``.
    """

    def __init__(self, x, masks=None, log_dir=None, png_dir=None, every=1, max_images=8,
                 explain_fn=None):
        super().__init__()
        if log_dir is None and png_dir is None:
            raise ValueError("give `log_dir` and/or `png_dir`; both are None, nothing would be written.")
        every = check_positive_int(every, "every", minimum=0)
        if every < 1:
            raise ValueError(f"`every` must be a positive integer; got {every!r}.")
        max_images = check_positive_int(max_images, "max_images")
        if explain_fn is not None and not callable(explain_fn):
            raise TypeError(f"`explain_fn` must be a callable x -> maps or None; got {type(explain_fn).__name__}.")
        self.x = {k: v[:max_images] for k, v in x.items()} if isinstance(x, dict) else x[:max_images]
        self.masks = None if masks is None else np.asarray(masks)[:max_images]
        n_x = len(next(iter(self.x.values()))) if isinstance(self.x, dict) else len(self.x)
        if self.masks is not None and len(self.masks) != n_x:
            raise ValueError(f"`masks` has {len(self.masks)} entries for {n_x} images (one mask per image).")
        self.log_dir, self.png_dir = log_dir, png_dir
        self.every, self.max_images = int(every), int(max_images)
        self.explain_fn = explain_fn
        self._writer = None
        self.written = []

    def _images(self):
        if isinstance(self.x, dict):
            key = getattr(self.model, "input_key", "x")
            key = key[0] if isinstance(key, (list, tuple)) else key
            return np.asarray(self.x[key])
        return np.asarray(self.x)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        fn = self.explain_fn or self.model.explain
        maps = np.asarray(fn(self.x))
        images = self._images()
        fig = explanation_figure(images, maps, self.masks)
        import matplotlib.pyplot as plt

        if self.png_dir is not None:
            Path(self.png_dir).mkdir(parents=True, exist_ok=True)
            path = Path(self.png_dir) / f"epoch_{epoch + 1:03d}.png"
            fig.savefig(path, dpi=80)
            self.written.append(str(path))
        if self.log_dir is not None:
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())[None, ..., :3]
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "explanations"))
            with self._writer.as_default():
                tf.summary.image("explanations", rgba, step=epoch)
            self._writer.flush()
        plt.close(fig)
