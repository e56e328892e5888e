"""The interactive GRADIA-style loop a person runs: export → label/edit → import → fine-tune.

GRADIA (Gao et al., CSCW 2022) has annotators look at the model's attention on
validation samples, judge it on the Reasonability Matrix (RA/UA/RIA/UIA) and
edit the attention maps; the model is then fine-tuned on the edits. The
authors ship a Flask UI; this module does the same with plain files any image
editor and spreadsheet can handle:

1. :func:`export_batch` writes, per sample, ``overlays/<id>.png`` (three
   panels: the image, the model's Grad-CAM over it, the current masks over it)
   and editable masks ``masks/<id>_positive.png`` / ``masks/<id>_negative.png``
   (white = marked), plus ``labels.csv`` with the true/predicted class and
   empty ``reasonability`` (RA | UA | RIA | UIA) and ``include`` columns.
2. The person paints the mask PNGs (white where the model *should* look /
   should *not* look) and fills ``labels.csv``.
3. :func:`import_annotations` reads them back, writes the masks in the RES
   annotation CSV format (``attention_label/feedback.csv`` and
   ``attention_label/feedback_counterfactual.csv``; readable by
   :func:`keras_egl.data.images.read_res_annotations`) and returns a data dict
   with ``pos_mask``, ``neg_mask``, ``has_annotation`` and ``reasonability`` codes
   (the annotation vocabulary of :mod:`keras_egl.terms.core`).
4. :func:`fine_tune` merges those samples with the training data and fits any
   :class:`~keras_egl.models.base.ExplanationGuidedModel` (GRADIA uses the
   reasonability weights; RES/HAICS the masks), feeding it only the keys it reads.

See ``docs/interactive_loop.md`` for a walk-through.
"""

import csv
from pathlib import Path

import numpy as np

from keras_egl.data.images import read_res_annotations, write_res_csv
from keras_egl.terms.core import ANNOTATION_KEYS, HAS_ANNOTATION, NEG_MASK, POS_MASK, REASONABILITY

__all__ = ["export_batch", "import_annotations", "fine_tune", "REASONABILITY_LABELS"]

REASONABILITY_LABELS = {"": 0, "RA": 1, "UA": 2, "RIA": 3, "UIA": 4}
LABEL_COLUMNS = ["img_idx", "true_label", "pred_label", "confidence", "reasonability", "include", "note"]


def _png_write(path, mask):
    from PIL import Image

    Image.fromarray((np.asarray(mask) > 0.5).astype(np.uint8) * 255, mode="L").save(path)


def _png_read(path, size):
    from PIL import Image

    img = Image.open(path).convert("L")
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.NEAREST)
    return (np.asarray(img) >= 128).astype(np.float32)


def _overlay(path, image, cam, pos, neg, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(7.5, 2.8))
    ax[0].imshow(image)
    ax[0].set_title("image", fontsize=8)
    ax[1].imshow(image)
    ax[1].imshow(cam, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    ax[1].set_title("model attention (Grad-CAM)", fontsize=8)
    ax[2].imshow(image)
    shade = np.zeros(pos.shape + (4,), np.float32)
    shade[pos > 0] = (0.0, 1.0, 0.0, 0.45)
    shade[neg > 0] = (1.0, 0.0, 0.0, 0.45)
    ax[2].imshow(shade)
    ax[2].set_title("current masks (green +, red −)", fontsize=8)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def export_batch(egl, data, y, out_dir, indices=None, ids=None, class_names=None, batch_size=32):
    """Export samples for human review: PNG overlays, editable mask PNGs and ``labels.csv``.

    Args:
      egl: a trained :class:`~keras_egl.models.base.ExplanationGuidedModel`
        (its ``explain`` gives the CAM shown, upsampled to the image).
      data: data dict with ``"x"`` ``(N, H, W, 3)`` in ``[0, 1]`` and optionally
        ``"pos_mask"``/``"neg_mask"`` (the current annotations; empty if absent).
      y: ``(N,)`` true labels.
      out_dir: output folder (created).
      indices: which samples to export (default all).
      ids: identifiers written as ``img_idx`` (default ``sample_<index>``).
      class_names: optional names for the label columns.
      batch_size: explanation batch size.

    Returns:
      the path of ``labels.csv``.
    """
    out = Path(out_dir)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    x = np.asarray(data["x"])
    if x.ndim != 4:
        raise ValueError(f"`data['x']` must be (N, H, W, C) images; got shape {x.shape}.")
    n = len(x)
    indices = np.arange(n) if indices is None else np.asarray(indices)
    ids = [f"sample_{i}" for i in indices] if ids is None else list(ids)
    if len(ids) != len(indices):
        raise ValueError(f"`ids` must have one entry per exported sample ({len(indices)}); got {len(ids)}.")
    zeros = np.zeros(x.shape[:3], np.float32)
    pos_all = np.asarray(data.get(POS_MASK, zeros))
    neg_all = np.asarray(data.get(NEG_MASK, zeros))
    for arr, key in ((pos_all, POS_MASK), (neg_all, NEG_MASK)):
        if arr.shape != x.shape[:3]:
            raise ValueError(f"`data['{key}']` must be (N, H, W) = {x.shape[:3]}; got {arr.shape}.")
    xs = x[indices]
    cams = np.concatenate([np.asarray(egl.explain(xs[i:i + batch_size]))
                           for i in range(0, len(xs), batch_size)])
    logits = np.asarray(egl.predict(xs, batch_size=batch_size, verbose=0))
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    name = (lambda c: class_names[c]) if class_names else (lambda c: int(c))
    rows = []
    for j, (i, sid) in enumerate(zip(indices, ids)):
        pred = int(probs[j].argmax())
        _png_write(out / "masks" / f"{sid}_positive.png", pos_all[i])
        _png_write(out / "masks" / f"{sid}_negative.png", neg_all[i])
        _overlay(out / "overlays" / f"{sid}.png", xs[j], cams[j], pos_all[i], neg_all[i],
                 f"{sid}: true {name(int(y[i]))}, predicted {name(pred)} ({probs[j, pred]:.2f})")
        rows.append({"img_idx": sid, "true_label": int(y[i]), "pred_label": pred,
                     "confidence": f"{probs[j, pred]:.4f}", "reasonability": "", "include": "1", "note": ""})
    path = out / "labels.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def import_annotations(out_dir, image_size, write_res_format=True):
    """Read edited masks and ``labels.csv`` back (see module docstring).

    Args:
      out_dir: the folder written by :func:`export_batch`.
      image_size: ``(H, W)`` (or int) of the model's images; masks are read at it.
      write_res_format: also write ``attention_label/feedback.csv`` and
        ``attention_label/feedback_counterfactual.csv`` (RES format) into ``out_dir``.

    Returns:
      ``(annotations, ids, y)``: dict with ``pos_mask``, ``neg_mask`` ``(N, H, W)``,
      ``has_annotation`` and ``reasonability`` ``(N,)`` codes (0 unlabelled, 1 RA,
      2 UA, 3 RIA, 4 UIA) for rows with ``include`` ≠ 0; their ``img_idx`` list;
      their ``true_label`` array.
    """
    out = Path(out_dir)
    size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(image_size)
    path = out / "labels.csv"
    if not path.exists():
        raise ValueError(f"no labels.csv in {str(out)!r}; run export_batch first.")
    ids, pos, neg, codes, ys = [], [], [], [], []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if str(row.get("include", "1")).strip() in ("0", "no", "false", "False"):
                continue
            r = str(row.get("reasonability", "")).strip().upper()
            if r not in REASONABILITY_LABELS:
                raise ValueError(f"labels.csv row {row['img_idx']!r}: `reasonability` must be one of "
                                 f"{sorted(k for k in REASONABILITY_LABELS if k)} or empty; got {r!r}.")
            sid = row["img_idx"]
            p_file, n_file = out / "masks" / f"{sid}_positive.png", out / "masks" / f"{sid}_negative.png"
            p = _png_read(p_file, size) if p_file.exists() else np.zeros(size, np.float32)
            q = _png_read(n_file, size) if n_file.exists() else np.zeros(size, np.float32)
            q = q * (1 - p)  # a pixel painted in both: the positive mask wins (documented precedence)
            ids.append(sid)
            pos.append(p)
            neg.append(q)
            codes.append(REASONABILITY_LABELS[r])
            ys.append(int(row["true_label"]))
    if not ids:
        raise ValueError("labels.csv has no included rows.")
    pos, neg = np.stack(pos), np.stack(neg)
    if write_res_format:
        write_res_csv(out / "attention_label" / "feedback.csv", ids, pos)
        write_res_csv(out / "attention_label" / "feedback_counterfactual.csv", ids, neg)
        # Round-trip through the RES reader so what we return is what the loader sees.
        rp, rn = read_res_annotations(out / "attention_label")
        pos = np.stack([rp[i] for i in ids]).astype(np.float32)
        neg = np.stack([rn[i] for i in ids]).astype(np.float32)
    has = ((pos.sum((1, 2)) + neg.sum((1, 2))) > 0).astype(np.float32)
    return ({POS_MASK: pos, NEG_MASK: neg, HAS_ANNOTATION: has,
             REASONABILITY: np.asarray(codes, np.int32)}, ids, np.asarray(ys, np.int64))


def fine_tune(egl, train, y_train, images, annotations, y_feedback, epochs=5, batch_size=32, **fit_kwargs):
    """Fine-tune ``egl`` on ``train ∪ feedback`` (GRADIA phase 2 with human feedback).

    Args:
      egl: a compiled ExplanationGuidedModel (GRADIA, RES, HAICS…).
      train, y_train: the training data dict and labels (training samples get
        reasonability 0: prediction weight 1, attention weight 0 under GRADIA).
        Only the model input and the annotation keys ``egl`` reads
        (``egl.annotation_keys``, ``egl.extra_keys``) are passed to ``fit``.
      images: ``(N, H, W, 3)`` images of the feedback samples.
      annotations: the dict from :func:`import_annotations`.
      y_feedback: their labels.
      epochs, batch_size, **fit_kwargs: passed to ``fit``.

    Returns:
      the Keras ``History``.
    """
    fb = dict(annotations)
    fb["x"] = np.asarray(images, np.float32)
    tr = dict(train)
    tr.setdefault(REASONABILITY, np.zeros(len(y_train), np.int32))
    n = len(y_train)
    zeros = np.zeros(np.asarray(tr["x"]).shape[:3], np.float32)
    tr.setdefault(POS_MASK, zeros)
    tr.setdefault(NEG_MASK, zeros)
    tr.setdefault(HAS_ANNOTATION, (np.asarray(tr[POS_MASK]).reshape(n, -1).max(1) > 0).astype(np.float32))
    reads = set(getattr(egl, "annotation_keys", ANNOTATION_KEYS)) | set(getattr(egl, "extra_keys", ()))
    keys = ["x"] + [k for k in (POS_MASK, NEG_MASK, HAS_ANNOTATION, REASONABILITY) if k in reads]
    merged = {k: np.concatenate([np.asarray(tr[k]), np.asarray(fb[k])]).astype(
        np.int32 if k == REASONABILITY else np.float32) for k in keys}
    y = np.concatenate([np.asarray(y_train), np.asarray(y_feedback)])
    return egl.fit(merged, y, epochs=epochs, batch_size=batch_size, shuffle=True, **fit_kwargs)
