"""20 Newsgroups for RRR (alt.atheism vs soc.religion.christian), from a local copy only.

TF-IDF with ``lowercase=False`` and ``max_features=5000`` (following LIME's
example, as the reference does). Nothing is downloaded: ``path`` must hold
either scikit-learn's cache (what ``fetch_20newsgroups(data_home=path)`` wrote:
``20news-bydate_py3.pkz``) or the raw ``20news-bydate-train/`` and
``20news-bydate-test/`` folders (one sub-folder per category, one file per post).
"""

from pathlib import Path

import numpy as np

from keras_egl.validation import check_bool, check_positive_int

__all__ = ["CATEGORIES", "newsgroups_texts", "newsgroups_tfidf"]

CATEGORIES = ("alt.atheism", "soc.religion.christian")


def _read_raw(root, split, categories):
    texts, labels = [], []
    for label, cat in enumerate(categories):
        folder = Path(root) / f"20news-bydate-{split}" / cat
        if not folder.is_dir():
            raise FileNotFoundError(f"20 Newsgroups folder {folder} not found.")
        for f in sorted(folder.iterdir()):
            if f.is_file():
                texts.append(f.read_text(encoding="latin-1"))
                labels.append(label)
    return texts, np.asarray(labels, np.int64)


def _check_categories(categories):
    if isinstance(categories, str) or not isinstance(categories, (list, tuple)) or \
            not all(isinstance(c, str) for c in categories):
        raise TypeError(f"`categories` must be a list of newsgroup names; received {categories!r}.")
    if len(categories) < 2 or len(set(categories)) != len(categories):
        raise ValueError(f"`categories` must name at least two distinct newsgroups (one class each); "
                         f"received {categories!r}.")


def newsgroups_texts(path, categories=CATEGORIES):
    """``(train_texts, y, test_texts, yt)`` from the local copy at ``path``.

    Raises:
      FileNotFoundError: naming ``path`` when neither layout is present.
    """
    if path is None:
        raise FileNotFoundError("20 Newsgroups needs a local copy: pass `path` (e.g. --data-dir); "
                                "nothing is downloaded.")
    _check_categories(categories)
    root = Path(path).expanduser()
    if (root / "20news-bydate-train").is_dir() and (root / "20news-bydate-test").is_dir():
        tr, y = _read_raw(root, "train", categories)
        te, yt = _read_raw(root, "test", categories)
        return tr, y, te, yt
    if any(root.glob("20news-bydate*.pkz")):
        from sklearn.datasets import fetch_20newsgroups

        out = []
        for subset in ("train", "test"):
            d = fetch_20newsgroups(data_home=str(root), subset=subset, categories=list(categories),
                                   download_if_missing=False)
            # sklearn sorts the categories; map back to our order.
            order = {name: i for i, name in enumerate(categories)}
            labels = np.array([order[d.target_names[t]] for t in d.target], np.int64)
            out += [list(d.data), labels]
        return tuple(out)
    raise FileNotFoundError(
        f"20 Newsgroups not found at {root}: expected '20news-bydate-train/' and '20news-bydate-test/' "
        f"folders or scikit-learn's cache '20news-bydate_py3.pkz' there. Nothing is downloaded.")


def newsgroups_tfidf(path, categories=CATEGORIES, max_features=5000, lowercase=False):
    """TF-IDF features ``(X, y, Xt, yt, vectorizer)`` (dense float32) of the local copy."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    max_features = check_positive_int(max_features, "max_features")
    lowercase = check_bool(lowercase, "lowercase")
    tr, y, te, yt = newsgroups_texts(path, categories)
    vec = TfidfVectorizer(lowercase=lowercase, max_features=max_features)
    X = vec.fit_transform(tr).toarray().astype(np.float32)
    Xt = vec.transform(te).toarray().astype(np.float32)
    return X, y, Xt, yt, vec
