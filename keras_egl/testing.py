"""Contract tests for explanation terms — the library's own and yours.

:func:`run_term_test` checks what every :class:`~keras_egl.terms.ExplanationTerm`
promises, in the manner of Keras's ``run_layer_test``:

1. **config round trip** — ``from_config(get_config())`` and Keras
   (de)serialisation give a term with the same config and the same value;
2. **every ``*_key`` argument is honoured** — moving an annotation to another
   key and telling the term gives the same value; telling the term without
   moving the data changes the value (the key is really read);
3. **weights tracked and trained** — a term that creates weights has them in the
   model's ``trainable_variables`` and ``fit`` changes them;
4. **zero exactly when unannotated** — ``has_annotation = 0`` everywhere, or no
   annotation keys at all, gives exactly 0;
5. **a clear error for each declared bad input** — run inside ``fit`` (graph
   mode): a 0/255 mask, a wrong-sized mask, a NaN mask, a wrong-length
   ``has_annotation`` and a length-1 ``sample_weight`` raise an error whose
   message names the offending key, plus any term-specific cases.

The default fixture is a small functional CNN on ``16×16×3`` images with a
``(B, H, W)`` ``pos_mask`` (centre box), ``neg_mask`` (corner box), a
``has_annotation`` vector that switches one masked sample off, and GRADIA
``reasonability`` codes with non-unit weights — so every key of the annotation
vocabulary changes at least one term's value.
"""

import numpy as np

from keras_egl._keras import keras, tf

__all__ = ["small_cnn", "annotated_batch", "run_term_test", "BAD_MASK_CASES"]


def small_cnn(input_shape=(16, 16, 3), n_classes=3, seed=0, name="small_cnn"):
    """A tiny functional CNN producing logits; Grad-CAM layer ``"conv2"`` (8×8)."""
    init = lambda k: keras.initializers.GlorotUniform(seed=seed * 10 + k)  # noqa: E731
    inp = keras.Input(input_shape, name="x")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(1),
                            name="conv1")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init(2),
                            name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(n_classes, kernel_initializer=init(3), name="logits")(h)
    return keras.Model(inp, out, name=name)


def annotated_batch(n=6, size=16, channels=3, n_classes=3, seed=0):
    """``(inputs, y)``: images plus every key of the annotation vocabulary.

    ``pos_mask`` is a centre box, ``neg_mask`` a corner box; samples ``n−1`` and
    ``n−2`` have empty masks; ``has_annotation`` switches masked sample 0 off
    (so it differs from the mask-derived flags); ``reasonability`` cycles
    through UA/RIA/UIA codes (non-unit GRADIA weights).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, size, size, channels)).astype("float32")
    y = (np.arange(n) % n_classes).astype("int64")
    pos = np.zeros((n, size, size), "float32")
    neg = np.zeros((n, size, size), "float32")
    q = size // 4
    pos[:, q:3 * q, q:3 * q] = 1.0
    neg[:, :q, :q] = 1.0
    pos[n - 2:] = 0.0
    neg[n - 2:] = 0.0
    has = np.ones(n, "float32")
    has[0] = 0.0
    has[n - 2:] = 0.0
    codes = np.array([2, 3, 4] * n, "int32")[:n]  # UA, RIA, UIA (see keras_egl.losses.gradia)
    return {"x": x, "pos_mask": pos, "neg_mask": neg, "has_annotation": has, "reasonability": codes}, y


def _value(egl, term, inputs, y):
    _, ctx = egl.forward(inputs, y, training=False)
    return float(term.value(ctx)) if term.is_active(ctx) else 0.0


def _model(term, model_fn, explained_layer, input_key, extra_keys):
    from keras_egl.models.base import ExplanationGuidedModel

    return ExplanationGuidedModel(model_fn(), terms=[term], explained_layer=explained_layer,
                                  input_key=input_key, extra_keys=extra_keys)


BAD_MASK_CASES = (
    ("mask of 0/255 values", lambda v: v * 255.0, "[0, 1]"),
    ("NaN in a mask", lambda v: np.where(np.arange(v.size).reshape(v.shape) == 3, np.nan, v).astype("float32"),
     "NaN"),
    ("wrong-sized mask", lambda v: v[:, :-2, :-2], "spatial size"),
)


def run_term_test(make_term, model_fn=small_cnn, data=None, explained_layer="conv2", input_key="x",
                  mask_keys=None, bad_inputs=(), train_epochs=2, check_bad_masks=True):
    """Run the term contract (see the module docstring); raises ``AssertionError`` on a breach.

    Args:
      make_term: ``make_term(**overrides) -> ExplanationTerm`` (called with key
        overrides such as ``pos_key="alt_pos"``); e.g. ``lambda **kw: terms.get("rrr", **kw)``.
      model_fn: builds a fresh classifier (default :func:`small_cnn`).
      data: ``(inputs, y)``; default :func:`annotated_batch`.
      explained_layer, input_key: passed to the model.
      mask_keys: the keys whose values are masks (bad-mask cases are run on
        those the term reads); default the ``*_key`` arguments ending in
        ``mask``-ish roles: ``pos_key``, ``neg_key``.
      bad_inputs: extra ``(description, mutate(inputs) -> inputs, exception type,
        substring of the message)`` cases, run inside ``fit``.
      train_epochs: epochs of the weight-training check.
      check_bad_masks: run the generic bad-mask cases.

    Returns:
      dict with the default value and the number of bad-input cases checked.
    """
    inputs, y = data if data is not None else annotated_batch()
    inputs = dict(inputs)
    term = make_term()
    cfg = term.get_config()
    keys = {k: v for k, v in cfg.items() if k.endswith("_key") and isinstance(v, str)}
    extra = [k for k in inputs if k != input_key and k not in keys.values()
             and k not in ("has_annotation",)]
    egl = _model(term, model_fn, explained_layer, input_key, extra)
    base = _value(egl, term, inputs, y)
    assert np.isfinite(base), f"{term.name}: value {base} is not finite"
    assert base != 0.0, f"{term.name}: value is 0 on annotated data; the fixture does not exercise it"

    # 1. config round trip
    clone = type(term).from_config(term.get_config())
    assert clone.get_config() == cfg, f"{term.name}: from_config(get_config()) changed the config"
    clone2 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(term))
    assert type(clone2) is type(term) and clone2.get_config() == cfg, \
        f"{term.name}: Keras (de)serialisation changed the config"
    egl_c = _model(clone, model_fn, explained_layer, input_key, extra)
    egl_c.model.set_weights(egl.model.get_weights())
    if clone.weights or term.weights:
        clone.set_weights(term.get_weights())
    got = _value(egl_c, clone, inputs, y)
    np.testing.assert_allclose(got, base, rtol=1e-5, atol=1e-7,
                               err_msg=f"{term.name}: the round-tripped term gives another value")

    # 2. every *_key honoured: on the full batch, or — for a key read only to
    # derive a missing mask — on the batch without the other mask keys.
    mask_args = [a for a in ("pos_key", "neg_key") if a in keys]
    for arg, key in keys.items():
        if key not in inputs:
            continue
        alt = f"alt_{key}"
        witnesses = [inputs]
        if arg in mask_args:
            others = [keys[a] for a in mask_args if a != arg]
            witnesses.append({k: v for k, v in inputs.items() if k not in others})
        t_alt = make_term(**{arg: alt})
        m_alt = _model(t_alt, model_fn, explained_layer, input_key, [k for k in extra if k != alt] + [key])
        m_alt.model.set_weights(egl.model.get_weights())
        if t_alt.weights or term.weights:
            t_alt.set_weights(term.get_weights())
        read = False
        for data_w in witnesses:
            ref = _value(egl, term, data_w, y)
            moved = {(alt if k == key else k): v for k, v in data_w.items()}
            same = _value(m_alt, t_alt, moved, y)
            np.testing.assert_allclose(same, ref, rtol=1e-5, atol=1e-7,
                                       err_msg=f"{term.name}: `{arg}`={alt!r} with the data moved there "
                                               f"gives another value")
            if not np.isclose(_value(m_alt, t_alt, data_w, y), ref, rtol=1e-6, atol=0.0):
                read = True
        assert read, f"{term.name}: `{arg}`={alt!r} without that key gives the same value — the key is not read"

    # 4. zero exactly when unannotated
    off = dict(inputs)
    off["has_annotation"] = np.zeros_like(np.asarray(inputs.get("has_annotation", np.ones(len(y)))),
                                          dtype="float32")
    uses_flags = "flag_key" in keys or "has_annotation" in term.annotation_keys
    if uses_flags:
        assert _value(egl, term, off, y) == 0.0, f"{term.name}: not exactly 0 with has_annotation = 0"
    bare = {input_key: inputs[input_key]}
    if type(term).needs:
        assert _value(egl, term, bare, y) == 0.0, f"{term.name}: not exactly 0 without annotations"

    # 3. weights tracked and trained
    egl_t = _model(make_term(), model_fn, explained_layer, input_key, extra)
    t = egl_t.terms[0]
    egl_t.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    egl_t.fit(inputs, y, epochs=1, batch_size=len(y), verbose=0)
    if t.trainable_weights:
        ids = {id(v) for v in egl_t.trainable_variables}
        assert all(id(v) in ids for v in t.trainable_weights), \
            f"{term.name}: its weights are not in the model's trainable_variables"
        before = [v.numpy().copy() for v in t.trainable_weights]
        egl_t.fit(inputs, y, epochs=train_epochs, batch_size=len(y), verbose=0)
        after = [v.numpy() for v in t.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(after, before)), \
            f"{term.name}: fit did not change its weights"

    # 5. bad inputs, inside fit (graph mode)
    cases = list(bad_inputs)
    mk = mask_keys if mask_keys is not None else [keys[a] for a in ("pos_key", "neg_key") if a in keys]
    if check_bad_masks:
        for key in mk:
            if key not in inputs:
                continue
            for desc, mutate, needle in BAD_MASK_CASES:
                cases.append((f"{desc} in `{key}`",
                              (lambda d, key=key, mutate=mutate: {**d, key: mutate(np.asarray(d[key]))}),
                              (ValueError, tf.errors.InvalidArgumentError), key))
        if uses_flags:
            cases.append(("wrong-length has_annotation",
                          lambda d: {**d, "has_annotation": np.ones(len(y) + 1, "float32")},
                          (ValueError, tf.errors.InvalidArgumentError), "has_annotation"))
    n_checked = 0
    for desc, mutate, exc, needle in cases:
        bad = mutate(dict(inputs))
        m = _model(make_term(), model_fn, explained_layer, input_key, extra)
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        try:  # one tf.data batch: the step's own checks, in graph mode
            m.fit(tf.data.Dataset.from_tensors((bad, y)), epochs=1, verbose=0)
        except exc as e:  # noqa: PERF203
            assert needle in str(e), f"{term.name}: {desc}: the error does not name {needle!r}: {e}"
            n_checked += 1
            continue
        raise AssertionError(f"{term.name}: {desc}: fit accepted it")
    # length-1 sample_weight: never broadcast
    m = _model(make_term(), model_fn, explained_layer, input_key, extra)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    try:
        m.fit(tf.data.Dataset.from_tensors((inputs, y, np.ones(1, "float32"))), epochs=1, verbose=0)
    except (ValueError, tf.errors.InvalidArgumentError) as e:
        assert "sample_weight" in str(e), f"{term.name}: length-1 sample_weight error does not name it: {e}"
        n_checked += 1
    else:
        raise AssertionError(f"{term.name}: a length-1 sample_weight was broadcast")
    return {"value": base, "bad_inputs_checked": n_checked}
