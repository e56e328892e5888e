"""DynGraph2Seq and its baselines (Seq2Seq / NMT and static Graph2Seq).

Gao, Wu, Homayoun & Zhao, "DynGraph2Seq: Dynamic-Graph-to-Sequence
Interpretable Learning for Health Stage Prediction in Online Health Forums",
ICDM 2019; thesis ch. 3 (Table 3.1 lists the eight settings built here).

All three models share one LSTM decoder (Luong-style NMT decoder, thesis
Sec. 3.4.4) with optional sequence attention:

    i-th step:  r_i, alpha_i = attention(s_{i-1}, memory, alpha_{i-1})
                s_i = LSTM([embed(y_{i-1}), r_i], s_{i-1})
                logits_i = W_o [s_i, r_i] + b_o

(without attention the context is dropped). Training uses teacher forcing
(``inputs["decoder_input"] = [GO, y_1, ..., y_{M}]``, targets
``[y_1, ..., y_M, EOS]``, PAD-masked); inference is greedy decoding from GO
until EOS or ``max_decode_len`` (15, the follow-up code's maximum).

Encoders:

* :class:`DynGraph2Seq` - per-snapshot bi-directional GCN with per-step
  weights, max-pool or node-to-graph attention readout, LSTM over snapshots;
  memory = LSTM outputs o_1..o_T; decoder initialised from the encoder state.
* :class:`Graph2Seq` - the same GCN on one static graph (the union of all
  transitions, i.e. the last cumulative snapshot); memory = node embeddings
  (Xu et al.'s Graph2Seq attends over nodes); decoder state from the graph
  embedding.
* :class:`Seq2Seq` - NMT on the concatenated monthly transition sequence of
  subforum ids (no features).

Inputs are dicts: ``{"features", "adjacency", "decoder_input"}`` for the graph
models and ``{"tokens", "decoder_input"}`` for Seq2Seq. Outputs: logits
``[B, L, vocab]``. :meth:`greedy_decode` returns tokens and attention weights.

These are plain ``keras.Model`` subclasses: the objective is the token cross
entropy plus the regularizers the layers add (group lasso, L2) - no explanation
loss - so the ExplanationGuidedModel train step is not needed.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.layers.dyngraph import (DynamicBiGCN, MaxPoolGraphReadout, NodeToGraphAttention,
                                       active_node_mask)
from keras_egl.layers.seq_attention import MonotonicAttention, get_sequence_attention
from keras_egl.validation import check_non_negative, check_positive_int
from keras_egl.regularizers.group_lasso import (SlidingWindowGroupLasso, proximal_group_lasso_step,
                                                sliding_window_group_lasso)

PAD_ID, GO_ID, EOS_ID = 0, 1, 2


def make_teacher_forcing(sequences, max_len=15, go_id=GO_ID, eos_id=EOS_ID, pad_id=PAD_ID,
                         truncate=False):
    """Decoder inputs, targets and mask from token-id sequences.

    Args:
        sequences: list of lists of token ids (without GO/EOS).
        max_len: L, decoder length; a sequence may hold at most ``L - 1`` tokens
            (room for EOS).
        go_id, eos_id, pad_id: special ids.
        truncate: cut longer sequences (their EOS is kept) instead of raising.

    Returns:
        ``(decoder_input [B, L], target [B, L], mask [B, L] float32)``.
    """
    max_len = check_positive_int(max_len, "max_len")
    if sequences is None or isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"`sequences` must be a list of token-id lists; received {type(sequences).__name__}.")
    for i, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__") or not all(
                isinstance(tok, (int, np.integer)) and not isinstance(tok, bool) for tok in seq):
            raise TypeError(f"`sequences`[{i}] must be a list of int token ids (encode the stages first, "
                            f"e.g. StageVocab.encode); received {seq!r}.")
    n = len(sequences)
    dec_in = np.full((n, max_len), pad_id, np.int32)
    target = np.full((n, max_len), pad_id, np.int32)
    for i, seq in enumerate(sequences):
        seq = list(seq)
        if len(seq) > max_len - 1:
            if not truncate:
                raise ValueError(f"sequence {i} has {len(seq)} tokens; at most max_len - 1 = "
                                 f"{max_len - 1} fit before EOS (pass truncate=True to cut).")
            seq = seq[:max_len - 1]
        full = seq + [eos_id]
        dec_in[i, 0] = go_id
        dec_in[i, 1:len(full)] = seq
        target[i, :len(full)] = full
    mask = (target != pad_id).astype(np.float32)
    return dec_in, target, mask


def sequence_sample_weight(mask):
    """``mask * L``: with Keras' sum-over-batch-size reduction (which divides by
    B * L) the loss becomes the token cross-entropy *summed over each sequence*
    and averaged over the batch - the follow-up code's normalisation, the scale
    at which the thesis' beta = 3e-4 applies."""
    mask = np.asarray(mask, np.float32)
    return mask * mask.shape[-1]


def finalize_tokens(tokens, eos_id=EOS_ID, pad_id=PAD_ID):
    """Replace everything after the first EOS by PAD; return (tokens, lengths).

    ``lengths`` counts the tokens before EOS.
    """
    tokens = np.array(tokens, copy=True)
    lengths = np.full(tokens.shape[0], tokens.shape[1], np.int32)
    for i in range(tokens.shape[0]):
        hits = np.where(tokens[i] == eos_id)[0]
        if hits.size:
            lengths[i] = hits[0]
            tokens[i, hits[0] + 1:] = pad_id
    return tokens, lengths


def strip_special(tokens, eos_id=EOS_ID, pad_id=PAD_ID, go_id=GO_ID):
    """List of token-id lists up to (excluding) EOS, with specials removed."""
    out = []
    for row in np.asarray(tokens):
        seq = []
        for t in row:
            t = int(t)
            if t == eos_id:
                break
            if t in (pad_id, go_id):
                continue
            seq.append(t)
        out.append(seq)
    return out


def _readout_layer(readout, units, mask_inactive, kernel_initializer="glorot_uniform"):
    """Graph readout shared by the dynamic and the static encoders."""
    if readout == "maxpool":
        return MaxPoolGraphReadout(units, mask_inactive=mask_inactive, kernel_initializer=kernel_initializer,
                                   name="readout")
    return NodeToGraphAttention(mask_inactive=mask_inactive, kernel_initializer=kernel_initializer,
                                name="readout")


_SEQ_ATTENTIONS = (None, "none", "bahdanau", "luong", "monotonic", "monotonic_luong")


def _seeded(seed, offset, default):
    """``default`` seeded with ``seed + offset`` (``seed`` None: ``default`` unseeded).

    Keras 3 and tf_keras draw unseeded initializers from different random
    streams, so the same ``keras.utils.set_random_seed`` gives different
    starting weights; seeded initializers give identical ones.
    """
    if seed is None:
        return default
    init = keras.initializers.get(default)
    config = init.get_config()
    config["seed"] = int(seed) * 100 + offset
    return type(init).from_config(config)


class _EncoderDecoder(keras.Model):
    """Shared LSTM decoder with optional attention; subclasses define ``encode``."""

    def __init__(self, vocab_size, units=128, embed_dim=10, seq_attention=None,
                 attention_units=128, max_decode_len=15, decoder_init="state",
                 sigmoid_noise=0.0, seed=None, go_id=GO_ID, eos_id=EOS_ID, pad_id=PAD_ID, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size <= max(go_id, eos_id, pad_id):
            raise ValueError(f"`vocab_size` must be an int > the special ids; received {vocab_size!r}.")
        if decoder_init not in ("state", "cell"):
            raise ValueError(f"`decoder_init` must be 'state' or 'cell'; received {decoder_init!r}.")
        if not isinstance(max_decode_len, int) or max_decode_len < 1:
            raise ValueError(f"`max_decode_len` must be a positive int; received {max_decode_len!r}.")
        if seq_attention not in _SEQ_ATTENTIONS:
            raise ValueError(f"`seq_attention` must be one of {_SEQ_ATTENTIONS}; received {seq_attention!r}.")
        units = check_positive_int(units, "units")
        embed_dim = check_positive_int(embed_dim, "embed_dim")
        attention_units = check_positive_int(attention_units, "attention_units")
        self.vocab_size = vocab_size
        self.units = units
        self.embed_dim = embed_dim
        self.seq_attention = seq_attention
        self.attention_units = attention_units
        self.max_decode_len = max_decode_len
        self.decoder_init = decoder_init
        self.go_id, self.eos_id, self.pad_id = go_id, eos_id, pad_id
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"`seed` must be an int or None; received {type(seed).__name__} {seed!r}.")
        self.seed = None if seed is None else int(seed)
        self.token_embedding = keras.layers.Embedding(
            vocab_size, embed_dim, name="token_embedding", embeddings_initializer=self._init(0, "uniform"))
        self.decoder_cell = keras.layers.LSTMCell(
            units, name="decoder_cell", kernel_initializer=self._init(1, "glorot_uniform"),
            recurrent_initializer=self._init(2, "orthogonal"))
        att_kwargs = {"init_seed": None if seed is None else int(seed) * 100 + 10}
        if seq_attention in ("monotonic", "monotonic_luong"):
            att_kwargs.update(sigmoid_noise=sigmoid_noise, seed=seed)
        self.attention = get_sequence_attention(seq_attention, attention_units, **att_kwargs)
        if self.attention is not None:
            self.attention.build((None, units))
        self.output_layer = keras.layers.Dense(vocab_size, name="output",
                                               kernel_initializer=self._init(3, "glorot_uniform"))

    def _init(self, offset, default):
        """The initializer of one weight: seeded from ``seed`` (offsets 0-9 decoder,
        10-19 attention, 20+ encoder), or Keras' unseeded default."""
        return _seeded(self.seed, offset, default)

    # -- to be provided by subclasses -------------------------------------------------
    def encode(self, inputs, training=None):  # pragma: no cover - abstract
        """Return dict(memory [B,T,M], mask [B,T] or None, state [h, c], extras dict)."""
        raise NotImplementedError

    # -- decoder ----------------------------------------------------------------------
    def _initial_state(self, enc):
        h, c = enc["state"]
        if self.decoder_init == "cell":
            h = tf.zeros_like(h)
        return [h, c]

    def _decode_step(self, token, states, alignment, enc, keys, training=None):
        emb = self.token_embedding(token)
        if self.attention is not None:
            context, alignment = self.attention(states[0], enc["memory"], keys=keys,
                                                mask=enc["mask"], previous_alignment=alignment,
                                                training=training)
            x = tf.concat([emb, context], axis=-1)
        else:
            x = emb
        out, states = self.decoder_cell(x, states, training=training)
        if self.attention is not None:
            out = tf.concat([out, context], axis=-1)
        return self.output_layer(out), list(states), alignment

    def _start(self, enc):
        memory = enc["memory"]
        batch = tf.shape(memory)[0]
        keys = self.attention.process_memory(memory) if self.attention is not None else None
        if self.attention is not None:
            alignment = self.attention.initial_alignment(batch, tf.shape(memory)[1], memory.dtype)
        else:
            alignment = None
        return keys, alignment

    def call(self, inputs, training=None):
        if "decoder_input" not in inputs:
            raise ValueError("`inputs` needs 'decoder_input' [B, L] for teacher forcing; use "
                             "`greedy_decode` for inference.")
        enc = self.encode(inputs, training=training)
        dec_in = tf.convert_to_tensor(inputs["decoder_input"])
        if dec_in.shape.rank != 2 or dec_in.shape[1] is None:
            raise ValueError(f"'decoder_input' must be [B, L] with static L; received {dec_in.shape}.")
        states = self._initial_state(enc)
        keys, alignment = self._start(enc)
        if alignment is None:
            alignment = tf.zeros([tf.shape(dec_in)[0], 1], enc["memory"].dtype)
        steps = dec_in.shape[1]
        dec_t = tf.transpose(dec_in, [1, 0])

        # A symbolic loop (not a Python one) keeps the traced graph one step long: tracing
        # an unrolled 15-step attention decoder dominated the cost of small trainings.
        def body(i, h, c, align, ta):
            step, (h, c), new_align = self._decode_step(
                dec_t[i], [h, c], align if self.attention is not None else None, enc, keys,
                training=training)
            if self.attention is not None:
                align = new_align
            return i + 1, h, c, align, ta.write(i, step)

        ta = tf.TensorArray(enc["memory"].dtype, size=steps)
        _, _, _, _, ta = tf.while_loop(lambda i, *_: i < steps, body,
                                       (tf.constant(0), states[0], states[1], alignment, ta))
        return tf.transpose(ta.stack(), [1, 0, 2])

    def _build_decoder(self, memory_dim):
        """Create the decoder weights up front (they must not be created inside a loop)."""
        ctx = memory_dim if self.attention is not None else 0
        self.token_embedding.build((None,))
        self.decoder_cell.build((None, self.embed_dim + ctx))
        self.output_layer.build((None, self.units + ctx))

    def greedy_decode(self, inputs, max_len=None, batch_size=256):
        """Greedy decoding from GO until EOS (or ``max_len``, default 15).

        Args:
            inputs: the model inputs without ``decoder_input`` (numpy or tensors).
            max_len: maximum number of generated tokens (EOS included).
            batch_size: decoding batch size.

        Returns:
            dict with ``tokens [B, max_len]`` (EOS kept, PAD after it),
            ``lengths [B]`` (tokens before EOS), ``attention [B, max_len, T]``
            (graph-to-sequence / decoder attention; zeros without attention)
            and, for graph models with node attention, ``node_attention``.
        """
        max_len = int(max_len or self.max_decode_len)
        first = next(iter(inputs.values()))
        n = int(np.shape(first)[0])
        toks, atts, extras = [], [], {}
        for s in range(0, n, batch_size):
            part = {k: v[s:s + batch_size] for k, v in inputs.items() if k != "decoder_input"}
            t, a, e = self._greedy_batch(part, tf.constant(max_len))
            toks.append(t.numpy())
            atts.append(a.numpy())
            for k, v in e.items():
                extras.setdefault(k, []).append(v.numpy())
        tokens, lengths = finalize_tokens(np.concatenate(toks), self.eos_id, self.pad_id)
        att = np.concatenate(atts)
        # Attention after EOS belongs to no emitted token.
        att = att * (np.arange(max_len)[None, :, None] <= lengths[:, None, None])
        out = {"tokens": tokens, "lengths": lengths, "attention": att}
        out.update({k: np.concatenate(v) for k, v in extras.items()})
        return out

    @tf.function(reduce_retracing=True)
    def _greedy_batch(self, inputs, max_len):
        enc = self.encode(inputs, training=False)
        states = self._initial_state(enc)
        keys, alignment = self._start(enc)
        batch = tf.shape(enc["memory"])[0]
        t_mem = tf.shape(enc["memory"])[1]
        token = tf.fill([batch], self.go_id)
        finished = tf.zeros([batch], tf.bool)
        toks = tf.TensorArray(tf.int32, size=max_len)
        atts = tf.TensorArray(enc["memory"].dtype, size=max_len)
        if alignment is None:
            alignment = tf.zeros([batch, t_mem], enc["memory"].dtype)
        for i in tf.range(max_len):
            logits, states, new_alignment = self._decode_step(token, states, alignment if
                                                              self.attention is not None else None,
                                                              enc, keys, training=False)
            if self.attention is not None:
                alignment = new_alignment
            token = tf.argmax(logits, axis=-1, output_type=tf.int32)
            token = tf.where(finished, tf.fill([batch], self.pad_id), token)
            toks = toks.write(i, token)
            atts = atts.write(i, alignment)
            finished = tf.logical_or(finished, tf.equal(token, self.eos_id))
        tokens = tf.transpose(toks.stack(), [1, 0])
        att = tf.transpose(atts.stack(), [1, 0, 2])
        extras = {k: v for k, v in enc["extras"].items() if v is not None}
        return tokens, att, extras

    def _read_out(self, node_emb, mask):
        """Graph embedding and node attention (``None`` for the max-pool readout)."""
        if self.readout == "maxpool":
            return self.readout_layer(node_emb, mask=mask), None
        return self.readout_layer(node_emb, mask=mask)

    def get_config(self):
        # Decoder settings here; each subclass records its encoder's in `self._cfg`.
        cfg = {"vocab_size": self.vocab_size, "units": self.units, "embed_dim": self.embed_dim,
               "seq_attention": self.seq_attention, "attention_units": self.attention_units,
               "max_decode_len": self.max_decode_len, "decoder_init": self.decoder_init,
               "go_id": self.go_id, "eos_id": self.eos_id, "pad_id": self.pad_id}
        cfg.update(self._cfg)
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _group_lasso(group_lasso):
    if group_lasso in (None, False):
        return None
    if group_lasso is True:
        return SlidingWindowGroupLasso()
    if isinstance(group_lasso, dict):
        if "class_name" in group_lasso:
            return keras.regularizers.deserialize(group_lasso)
        return SlidingWindowGroupLasso(**group_lasso)
    if isinstance(group_lasso, keras.regularizers.Regularizer):
        return group_lasso
    raise TypeError("`group_lasso` must be None/False, True, a dict of SlidingWindowGroupLasso "
                    f"arguments or a Regularizer; received {type(group_lasso).__name__}.")


def _shared_features(node_features, num_nodes, num_features, time_steps):
    """Validate constructor-level (forum-wide) features: [N, D] or [T, N, D]."""
    if node_features is None:
        return None
    f = np.asarray(node_features, np.float32)
    ok = (f.ndim == 2 and f.shape == (num_nodes, num_features)) or (
        f.ndim == 3 and time_steps is not None and f.shape == (time_steps, num_nodes, num_features))
    if not ok:
        raise ValueError(f"`node_features` must be [N={num_nodes}, D={num_features}]"
                         + (f" or [T={time_steps}, N, D]" if time_steps else "")
                         + f"; received shape {f.shape}.")
    return f


def _check_graph_inputs(inputs, num_nodes, num_features, time_steps=None, shared=None):
    if "adjacency" not in inputs:
        raise ValueError(f"`inputs` needs 'adjacency'; received keys {sorted(inputs)}.")
    if "features" not in inputs and shared is None:
        raise ValueError("`inputs` needs 'features' unless the model was built with "
                         f"`node_features`; received keys {sorted(inputs)}.")
    # Cast (not convert): adjacency may be stored compactly as integer counts.
    a = tf.cast(inputs["adjacency"], tf.float32)
    if "features" not in inputs:
        f = shared
        if time_steps is not None and f.shape.rank == 2:
            f = tf.tile(f[None], [time_steps, 1, 1])
        elif time_steps is None:
            f = f[None]
    else:
        f = tf.cast(inputs["features"], tf.float32)
    want_rank = 4 if time_steps is not None else 3
    if a.shape.rank != want_rank:
        raise ValueError(f"'adjacency' must have rank {want_rank} "
                         f"({'[B, T, N, N]' if time_steps else '[B, N, N]'}); received {a.shape}.")
    if time_steps is not None and a.shape[1] is not None and a.shape[1] != time_steps:
        raise ValueError(f"'adjacency' has {a.shape[1]} snapshots; the model expects {time_steps}.")
    if a.shape[-1] is not None and (a.shape[-1] != num_nodes or a.shape[-2] != num_nodes):
        raise ValueError(f"'adjacency' snapshots are {a.shape[-2]}x{a.shape[-1]}; the model expects "
                         f"{num_nodes}x{num_nodes} (pad every snapshot to the same node set).")
    if f.shape[-1] != num_features or f.shape[-2] != num_nodes:
        raise ValueError(f"'features' must end in [{num_nodes}, {num_features}] (nodes, features); "
                         f"received {f.shape}.")
    if "features" in inputs and f.shape.rank == 3 and time_steps is not None:
        f = tf.tile(f[:, None], [1, time_steps, 1, 1])
    return f, a


@keras.saving.register_keras_serializable(package="keras_egl")
class DynGraph2Seq(_EncoderDecoder):
    r"""Dynamic-graph-to-sequence model with hierarchical attention (thesis ch. 3).

    Encoder: :class:`DynamicBiGCN` on each snapshot (separate weights per time
    step, eqs. 3.1-3.6) -> readout (FC + max-pool, or node-to-graph attention
    eqs. 3.14-3.16) -> LSTM over g_1..g_T (eqs. 3.7-3.12). Decoder: LSTM
    initialised from the encoder's final (h, c) (follow-up code;
    ``decoder_init="cell"`` passes only C_T as the thesis text says) with
    graph-to-sequence attention over o_1..o_T (monotonic eqs. 3.17-3.19 or
    softmax). The group lasso (eq. 3.13) regularises the first-hop kernels.

    The four Table 3.1 variants: ``readout="maxpool", seq_attention=None``
    (w/o reg & att), ``+ group_lasso=True`` (w/ reg), ``readout="attention",
    seq_attention="monotonic"`` (w/ att), and both.

    Inputs: dict with ``features`` ``[B, T, N, D]`` (or ``[B, N, D]`` static,
    tiled over time), ``adjacency`` ``[B, T, N, N]`` (cumulative transition
    counts) and, in training, ``decoder_input [B, L]``.
    Output: logits ``[B, L, vocab_size]``.

    Args:
        num_nodes: N. num_features: D. time_steps: T.
        vocab_size: output vocabulary incl. PAD/GO/EOS.
        gcn_units: H per GCN stream (follow-up code: 32).
        hops: K (thesis: 4).
        concat, include_self, edge_weights, per_step_weights: see
            :class:`DynamicBiGCN`.
        readout: ``"maxpool"`` or ``"attention"``.
        readout_units: FC size of the max-pool readout (default: the node
            embedding size).
        mask_inactive: exclude nodes without edges from the readout.
        seq_attention: ``None``, ``"monotonic"`` (thesis eqs. 3.17-3.19),
            ``"monotonic_luong"``, ``"bahdanau"`` (follow-up code default) or
            ``"luong"``.
        group_lasso: ``None``/``False``, ``True`` (beta 3e-4, w 12), a dict of
            :class:`SlidingWindowGroupLasso` arguments or a regularizer.
        group_lasso_mode: ``"subgradient"`` (default; the thesis adds eq. 3.13
            to the objective, so its subgradient goes through Adam) or
            ``"proximal"``: the penalty is left out of the loss and, after
            every optimiser step of ``fit``, the first-hop kernel is replaced
            by :func:`~keras_egl.regularizers.group_lasso.sliding_window_group_prox`
            with threshold beta x (Adam-preconditioned) step size
            (:func:`~keras_egl.regularizers.group_lasso.proximal_group_lasso_step`),
            which makes unselected (window, keyword) groups exactly zero. The
            regularizer's ``l2`` part stays in the loss. ``logs`` then carry
            ``group_lasso`` (beta x the l_{2,1} value) for monitoring.
        prox_preconditioned: in proximal mode, scale the threshold by Adam's
            second moments (default True); False uses lr x beta.
        l2: follow-up code's L2 (``tf.nn.l2_loss`` convention) on every GCN
            kernel (default 0).
        units: encoder/decoder LSTM size (follow-up code: 128).
        embed_dim: target-token embedding (follow-up code: 10).
        attention_units: attention size (128).
        max_decode_len: 15.
        decoder_init: ``"state"`` or ``"cell"``.
        sigmoid_noise: monotonic attention's training noise.
        seed: seeds every initializer (the same starting weights under Keras 3
            and tf_keras, whose unseeded streams differ) and that noise; None:
            Keras' unseeded defaults.
        node_features: optional forum-level features ``[N, D]`` or ``[T, N, D]``
            shared by all users; then ``inputs`` need no ``features`` and the
            first hop is computed once per batch (what makes T per-step weight
            sets affordable on CPU).
        tied_init: start the T per-step GCN weight sets from one shared draw
            (see :class:`DynamicBiGCN`; default False).

    Example:
        >>> m = DynGraph2Seq(num_nodes=5, num_features=4, time_steps=3, vocab_size=9,
        ...                  gcn_units=4, hops=2, units=8, readout="attention",
        ...                  seq_attention="monotonic", group_lasso={"window": 2})
        >>> x = {"features": np.ones([2, 3, 5, 4], "float32"),
        ...      "adjacency": np.ones([2, 3, 5, 5], "float32"),
        ...      "decoder_input": np.ones([2, 6], "int32")}
        >>> m(x).shape
        TensorShape([2, 6, 9])
    """

    def __init__(self, num_nodes, num_features, time_steps, vocab_size, gcn_units=32, hops=4,
                 concat="per_hop", include_self=False, edge_weights="count", per_step_weights=True,
                 readout="maxpool", readout_units=None, mask_inactive=True,
                 seq_attention="monotonic", group_lasso=None, l2=0.0, units=128, embed_dim=10,
                 attention_units=128, max_decode_len=15, decoder_init="state", sigmoid_noise=0.0,
                 seed=None, node_features=None, tied_init=False, group_lasso_mode="subgradient",
                 prox_preconditioned=True, **kwargs):
        super().__init__(vocab_size, units=units, embed_dim=embed_dim, seq_attention=seq_attention,
                         attention_units=attention_units, max_decode_len=max_decode_len,
                         decoder_init=decoder_init, sigmoid_noise=sigmoid_noise, seed=seed, **kwargs)
        if readout not in ("maxpool", "attention"):
            raise ValueError(f"`readout` must be 'maxpool' or 'attention'; received {readout!r}.")
        num_nodes = check_positive_int(num_nodes, "num_nodes")
        num_features = check_positive_int(num_features, "num_features")
        time_steps = check_positive_int(time_steps, "time_steps")
        l2 = check_non_negative(l2, "l2")
        if group_lasso_mode not in ("subgradient", "proximal"):
            raise ValueError("`group_lasso_mode` must be 'subgradient' or 'proximal'; received "
                             f"{group_lasso_mode!r}.")
        self.num_nodes, self.num_features, self.time_steps = num_nodes, num_features, time_steps
        nf = _shared_features(node_features, num_nodes, num_features, time_steps)
        self.node_features = tf.constant(nf) if nf is not None else None
        self.readout = readout
        self.mask_inactive = bool(mask_inactive)
        self.group_lasso = _group_lasso(group_lasso)
        self.group_lasso_mode = group_lasso_mode
        self.prox_preconditioned = bool(prox_preconditioned)
        if group_lasso_mode == "proximal" and self.group_lasso is not None and not isinstance(
                self.group_lasso, SlidingWindowGroupLasso):
            raise TypeError("`group_lasso_mode='proximal'` needs a SlidingWindowGroupLasso; "
                            f"received {type(self.group_lasso).__name__}.")
        first_reg = self.group_lasso
        if group_lasso_mode == "proximal" and self.group_lasso is not None:
            # The l2,1 part is applied by the prox after each step; only the L2 part
            # (tf.nn.l2_loss convention: l2 * sum / 2) stays a differentiable loss.
            gl_l2 = self.group_lasso.l2
            first_reg = keras.regularizers.L2(gl_l2 / 2.0) if gl_l2 else None
        self.l2 = float(l2)
        self._cfg = {"num_nodes": num_nodes, "num_features": num_features, "time_steps": time_steps,
                     "gcn_units": gcn_units, "hops": hops, "concat": concat,
                     "include_self": include_self, "edge_weights": edge_weights,
                     "per_step_weights": per_step_weights, "readout": readout,
                     "readout_units": readout_units, "mask_inactive": mask_inactive,
                     "group_lasso": keras.regularizers.serialize(self.group_lasso)
                     if self.group_lasso is not None else None,
                     "l2": l2, "sigmoid_noise": sigmoid_noise, "seed": seed,
                     "tied_init": bool(tied_init), "group_lasso_mode": group_lasso_mode,
                     "prox_preconditioned": bool(prox_preconditioned),
                     "node_features": nf.tolist() if nf is not None else None}
        self.gcn = DynamicBiGCN(gcn_units, hops=hops, time_steps=time_steps,
                                per_step_weights=per_step_weights, concat=concat,
                                include_self=include_self, edge_weights=edge_weights,
                                first_layer_regularizer=first_reg, tied_init=tied_init,
                                kernel_regularizer=keras.regularizers.L2(l2 / 2.0) if l2 else None,
                                kernel_initializer=self._init(20, "glorot_uniform"),
                                name="dynamic_gcn")
        node_dim = 2 * self.gcn.stream_units
        self.readout_layer = _readout_layer(readout, readout_units or node_dim, mask_inactive,
                                            self._init(40, "glorot_uniform"))
        self.encoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                              kernel_initializer=self._init(41, "glorot_uniform"),
                                              recurrent_initializer=self._init(42, "orthogonal"),
                                              name="encoder_lstm")
        self._build_decoder(units)

    def encode(self, inputs, training=None):
        f, a = _check_graph_inputs(inputs, self.num_nodes, self.num_features, self.time_steps,
                                   self.node_features)
        node_emb = self.gcn([f, a])
        mask = active_node_mask(a)
        g, node_alpha = self._read_out(node_emb, mask)
        o, h, c = self.encoder_lstm(g, training=training)
        return {"memory": o, "mask": None, "state": [h, c], "extras": {"node_attention": node_alpha}}

    def first_layer_kernel(self):
        """First-hop GCN kernel ``[T, D, S, H]`` (for feature ranking, Table 3.2)."""
        return self.gcn.first_layer_kernel

    def train_step(self, data):
        logs = super().train_step(data)
        if self.group_lasso_mode == "proximal" and self.group_lasso is not None:
            # Proximal gradient: optimiser step on the task loss (done above), then the
            # prox of the group lasso with the same step size.
            if tf.distribute.has_strategy():
                # The prox reads Adam's slots and assigns the kernel in replica context;
                # a mirrored variable would need a cross-replica update we have not built.
                raise NotImplementedError("group_lasso_mode='proximal' runs on one device only; "
                                          "use the default 'subgradient' under a distribution "
                                          "strategy.")
            kernel = self.gcn.first_layer_kernel
            proximal_group_lasso_step(kernel, self.group_lasso, self.optimizer,
                                      preconditioned=self.prox_preconditioned)
            logs = dict(logs)
            logs["group_lasso"] = self.group_lasso.beta * sliding_window_group_lasso(
                kernel, self.group_lasso.window, self.group_lasso.stride,
                self.group_lasso.separate_streams)
        return logs


@keras.saving.register_keras_serializable(package="keras_egl")
class Graph2Seq(_EncoderDecoder):
    """Static Graph2Seq baseline (Xu et al. 2018) on the union graph.

    The bi-directional GCN (one weight set) on the union of all transitions,
    readout (FC + max-pool or node attention) -> graph embedding g; the decoder
    state is ``(tanh(W_h g), W_c g)`` and attention (softmax, over the active
    nodes' embeddings, as in Graph2Seq) is optional.

    Inputs: ``features [B, N, D]``, ``adjacency [B, N, N]`` (union = last
    cumulative snapshot), ``decoder_input [B, L]``.

    Args: as :class:`DynGraph2Seq` minus the time-related ones; ``seq_attention``
    defaults to ``None``.

    Example:
        >>> m = Graph2Seq(num_nodes=5, num_features=4, vocab_size=9, gcn_units=4, hops=2,
        ...               units=8, seq_attention="bahdanau")
        >>> x = {"features": np.ones([2, 5, 4], "float32"),
        ...      "adjacency": np.ones([2, 5, 5], "float32"), "decoder_input": np.ones([2, 6], "int32")}
        >>> m(x).shape
        TensorShape([2, 6, 9])
    """

    def __init__(self, num_nodes, num_features, vocab_size, gcn_units=32, hops=4, concat="per_hop",
                 include_self=False, edge_weights="count", readout="maxpool", readout_units=None,
                 mask_inactive=True, seq_attention=None, l2=0.0, units=128, embed_dim=10,
                 attention_units=128, max_decode_len=15, decoder_init="state", node_features=None,
                 seed=None, **kwargs):
        super().__init__(vocab_size, units=units, embed_dim=embed_dim, seq_attention=seq_attention,
                         attention_units=attention_units, max_decode_len=max_decode_len,
                         decoder_init=decoder_init, seed=seed, **kwargs)
        num_nodes = check_positive_int(num_nodes, "num_nodes")
        num_features = check_positive_int(num_features, "num_features")
        l2 = check_non_negative(l2, "l2")
        nf = _shared_features(node_features, num_nodes, num_features, None)
        self.node_features = tf.constant(nf) if nf is not None else None
        if readout not in ("maxpool", "attention"):
            raise ValueError(f"`readout` must be 'maxpool' or 'attention'; received {readout!r}.")
        if isinstance(self.attention, MonotonicAttention):
            raise ValueError("Graph2Seq attends over an unordered node set; monotonic attention "
                             f"is meaningless there (received seq_attention={seq_attention!r}).")
        self.num_nodes, self.num_features = num_nodes, num_features
        self.readout = readout
        self._cfg = {"num_nodes": num_nodes, "num_features": num_features, "gcn_units": gcn_units,
                     "hops": hops, "concat": concat, "include_self": include_self,
                     "edge_weights": edge_weights, "readout": readout,
                     "readout_units": readout_units, "mask_inactive": mask_inactive, "l2": l2,
                     "node_features": nf.tolist() if nf is not None else None, "seed": seed}
        self.gcn = DynamicBiGCN(gcn_units, hops=hops, time_steps=1, per_step_weights=False,
                                concat=concat, include_self=include_self, edge_weights=edge_weights,
                                kernel_regularizer=keras.regularizers.L2(l2 / 2.0) if l2 else None,
                                kernel_initializer=self._init(20, "glorot_uniform"),
                                name="static_gcn")
        node_dim = 2 * self.gcn.stream_units
        self.readout_layer = _readout_layer(readout, readout_units or node_dim, mask_inactive,
                                            self._init(40, "glorot_uniform"))
        self.state_h = keras.layers.Dense(units, activation="tanh", name="state_h",
                                          kernel_initializer=self._init(41, "glorot_uniform"))
        self.state_c = keras.layers.Dense(units, name="state_c",
                                          kernel_initializer=self._init(42, "glorot_uniform"))
        self._build_decoder(node_dim)

    def encode(self, inputs, training=None):
        f, a = _check_graph_inputs(inputs, self.num_nodes, self.num_features, None,
                                   self.node_features)
        f = f if "features" not in inputs else f[:, None]  # shared: [1, N, D]; per graph: [B, 1, N, D]
        node_emb = self.gcn([f, a[:, None]])[:, 0]
        mask = active_node_mask(a)
        g, node_alpha = self._read_out(node_emb, mask)
        return {"memory": node_emb, "mask": mask, "state": [self.state_h(g), self.state_c(g)],
                "extras": {"node_attention": node_alpha}}


@keras.saving.register_keras_serializable(package="keras_egl")
class Seq2Seq(_EncoderDecoder):
    """NMT baseline (Luong et al. 2015) on the concatenated transition sequence.

    Tokens are subforum ids + 1 (0 is padding) in time order; an embedding and
    an LSTM encode them; the decoder starts from the final (h, c) and may
    attend (softmax or monotonic) over the encoder outputs, padding masked.

    Inputs: ``tokens [B, S]`` int, ``decoder_input [B, L]``.

    Args:
        num_nodes: N (token ids 1..N).
        node_embed_dim: source-token embedding size.
        others: as :class:`DynGraph2Seq`.

    Example:
        >>> m = Seq2Seq(num_nodes=5, vocab_size=9, units=8, seq_attention="luong")
        >>> x = {"tokens": np.array([[1, 2, 3, 0]]), "decoder_input": np.ones([1, 6], "int32")}
        >>> m(x).shape
        TensorShape([1, 6, 9])
    """

    def __init__(self, num_nodes, vocab_size, node_embed_dim=32, units=128, embed_dim=10,
                 seq_attention=None, attention_units=128, max_decode_len=15, decoder_init="state",
                 sigmoid_noise=0.0, seed=None, **kwargs):
        super().__init__(vocab_size, units=units, embed_dim=embed_dim, seq_attention=seq_attention,
                         attention_units=attention_units, max_decode_len=max_decode_len,
                         decoder_init=decoder_init, sigmoid_noise=sigmoid_noise, seed=seed, **kwargs)
        num_nodes = check_positive_int(num_nodes, "num_nodes")
        node_embed_dim = check_positive_int(node_embed_dim, "node_embed_dim")
        self.num_nodes = num_nodes
        self._cfg = {"num_nodes": num_nodes, "node_embed_dim": node_embed_dim,
                     "sigmoid_noise": sigmoid_noise, "seed": seed}
        self.source_embedding = keras.layers.Embedding(num_nodes + 1, node_embed_dim, mask_zero=True,
                                                       embeddings_initializer=self._init(20, "uniform"),
                                                       name="source_embedding")
        self.encoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                              kernel_initializer=self._init(41, "glorot_uniform"),
                                              recurrent_initializer=self._init(42, "orthogonal"),
                                              name="encoder_lstm")
        self._build_decoder(units)

    def encode(self, inputs, training=None):
        if "tokens" not in inputs:
            raise ValueError(f"`inputs` needs 'tokens' [B, S]; received keys {sorted(inputs)}.")
        tokens = tf.convert_to_tensor(inputs["tokens"])
        if tokens.shape.rank != 2:
            raise ValueError(f"'tokens' must be [B, S]; received shape {tokens.shape}.")
        if not tokens.dtype.is_integer:
            raise TypeError(f"'tokens' must be integer subforum ids + 1; received {tokens.dtype}.")
        tokens = tf.cast(tokens, tf.int32)
        mask = tokens > 0
        emb = self.source_embedding(tokens)
        o, h, c = self.encoder_lstm(emb, mask=mask, training=training)
        return {"memory": o, "mask": mask, "state": [h, c], "extras": {}}


def compile_for_sequences(model, learning_rate=1e-3, clipnorm=1.0):
    """Adam (thesis lr 1e-3; follow-up code clips the global norm at 1) and the
    token cross-entropy; fit with ``sample_weight=mask`` from
    :func:`make_teacher_forcing` so PAD positions are ignored."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=clipnorm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


__all__ = ["DynGraph2Seq", "Graph2Seq", "Seq2Seq", "make_teacher_forcing", "finalize_tokens",
           "strip_special", "compile_for_sequences", "sequence_sample_weight", "PAD_ID", "GO_ID", "EOS_ID"]
