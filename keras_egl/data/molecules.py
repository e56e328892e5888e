"""Graphs for GNES: molecules from SMILES (RDKit), splits, explanation masks, batching.

GNES (Gao et al., ICDM 2021; dissertation §4.2.4) classifies molecules as
graphs (atoms = nodes, bonds = edges) and supervises node/edge explanations
with human masks on 10 % of the training graphs and all test graphs.

* **Atom features** (:func:`atom_features`, 75-d, ConvMol-like; the authors use
  DeepChem's ``ConvMolFeaturizer``): one-hot element over 44 symbols (last =
  unknown) · one-hot degree 0–10 (11) · one-hot implicit valence 0–6 (7) ·
  formal charge (1) · radical electrons (1) · one-hot hybridisation SP, SP2,
  SP3, SP3D, SP3D2 (5) · aromatic (1) · one-hot total H count 0–4 (5).
  Atoms are in RDKit order (the authors' degree-sort permutation of ConvMol
  features is not needed: features and adjacency come from the same molecule).
* **Adjacency**: binary, symmetric, no self loops; the GCN's normalised
  ``V = D̃^{-1/2}(A+I)D̃^{-1/2}`` is precomputed per graph.
* **Splits**: deterministic Bemis–Murcko scaffold split (DeepChem's rule:
  scaffold sets sorted by size, largest first, filled into train, then valid,
  then test) and a seeded random split, 80/10/10 by default.
* **Data**: B3DB (``qc-b3db`` package, read offline from its bundled
  ``B3DB_classification.tsv``: 7,807 molecules, BBB+ = 1) and MoleculeNet CSVs
  (BBBP, BACE, Tox21 NR-ER with missing labels dropped) from a local path.
* **Explanation masks**: :func:`read_annotation_csv` reads the authors'
  format (``img_idx, status, record`` with JSON ``node_importance`` [N] and
  ``edge_importance`` [N][N]); :class:`RuleAnnotator` marks functional groups,
  highly polar bonds, electron-donating/withdrawing groups and conjugated
  systems with RDKit SMARTS (a rule-based stand-in for the authors' chemist
  annotations, which are not public offline).
* **Scene-graph-like generator** (:func:`make_scene_graphs`): class-defining
  objects and relations planted among distractors; the planted part is the
  node/edge ground truth (the second domain of Table 4.2).
* **Batching** (:func:`graph_dataset`): a ``tf.data`` pipeline of padded
  batches (size-bucketed to limit padding) giving the dict GNES trains on.
"""

import dataclasses
import importlib.util
import json
import numbers
import os
from typing import List, Optional

import numpy as np

from keras_egl.layers.graph import check_adjacency, gcn_normalize
from keras_egl.validation import check_bool, check_float, check_positive_int

__all__ = [
    "ATOM_SYMBOLS", "N_ATOM_FEATURES", "GraphSample", "atom_features", "mol_to_graph",
    "featurize_smiles", "bemis_murcko_scaffold", "scaffold_split", "random_split",
    "load_b3db", "load_moleculenet_csv", "read_annotation_csv", "RuleAnnotator",
    "assign_annotations", "make_scene_graphs", "pad_batch", "graph_dataset",
]

ATOM_SYMBOLS = ["C", "N", "O", "S", "F", "Si", "P", "Cl", "Br", "Mg", "Na", "Ca", "Fe", "As", "Al",
                "I", "B", "V", "K", "Tl", "Yb", "Sb", "Sn", "Ag", "Pd", "Co", "Se", "Ti", "Zn", "H",
                "Li", "Ge", "Cu", "Au", "Ni", "Cd", "In", "Mn", "Zr", "Cr", "Pt", "Hg", "Pb", "Unknown"]
N_ATOM_FEATURES = 75


def _one_hot(value, choices, unknown_last=False):
    v = [0.0] * len(choices)
    if value in choices:
        v[choices.index(value)] = 1.0
    elif unknown_last:
        v[-1] = 1.0
    return v


def atom_features(atom):
    """The 75-d ConvMol-like feature vector of an RDKit atom (see module docstring)."""
    from rdkit import Chem

    hyb = Chem.rdchem.HybridizationType
    f = (_one_hot(atom.GetSymbol(), ATOM_SYMBOLS, unknown_last=True)
         + _one_hot(atom.GetDegree(), list(range(11)))
         + _one_hot(atom.GetImplicitValence(), list(range(7)))
         + [float(atom.GetFormalCharge()), float(atom.GetNumRadicalElectrons())]
         + _one_hot(atom.GetHybridization(), [hyb.SP, hyb.SP2, hyb.SP3, hyb.SP3D, hyb.SP3D2])
         + [float(atom.GetIsAromatic())]
         + _one_hot(atom.GetTotalNumHs(), list(range(5))))
    return np.asarray(f, np.float32)


@dataclasses.dataclass
class GraphSample:
    """One graph: features ``x`` (N, F), raw ``adjacency`` (N, N), label and optional masks."""

    x: np.ndarray
    adjacency: np.ndarray
    label: int
    node_importance: Optional[np.ndarray] = None
    edge_importance: Optional[np.ndarray] = None
    has_annotation: bool = False
    smiles: str = ""
    v: Optional[np.ndarray] = None  # normalised adjacency (filled lazily)

    def __post_init__(self):
        self.x = np.asarray(self.x, np.float32)
        if self.x.ndim != 2:
            raise ValueError(f"`x` must have shape (N, F); received {self.x.shape}.")
        n = self.x.shape[0]
        if n < 1:
            raise ValueError("a graph needs at least one node; received a zero-node graph.")
        self.adjacency = check_adjacency(self.adjacency, "adjacency", n_nodes=n)
        if self.node_importance is not None:
            self.node_importance = np.asarray(self.node_importance, np.float32)
            if self.node_importance.shape != (n,):
                raise ValueError(f"`node_importance` must have shape ({n},) for a {n}-node graph; "
                                 f"received {self.node_importance.shape}.")
        if self.edge_importance is not None:
            self.edge_importance = np.asarray(self.edge_importance, np.float32)
            if self.edge_importance.shape != (n, n):
                raise ValueError(f"`edge_importance` must have shape ({n}, {n}) for a {n}-node graph; "
                                 f"received {self.edge_importance.shape}.")

    @property
    def n_nodes(self):
        return self.x.shape[0]

    def normalized(self):
        if self.v is None:
            self.v = gcn_normalize(self.adjacency, check=False)
        return self.v


def mol_to_graph(mol):
    """``(x (N, 75), adjacency (N, N))`` of an RDKit molecule (heavy atoms)."""
    x = np.stack([atom_features(a) for a in mol.GetAtoms()]) if mol.GetNumAtoms() else np.zeros((0, 75), np.float32)
    n = mol.GetNumAtoms()
    a = np.zeros((n, n), np.float32)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        a[i, j] = a[j, i] = 1.0
    return x, a


def featurize_smiles(smiles, labels, annotator=None, min_atoms=1, max_atoms=None):
    """Molecules → :class:`GraphSample` list; unparsable/too small/too large are skipped.

    Args:
      smiles: sequence of SMILES strings.
      labels: int labels, same length.
      annotator: optional :class:`RuleAnnotator` filling node/edge importance
        (``has_annotation`` stays False; see :func:`assign_annotations`).
      min_atoms: smallest heavy-atom count kept (1: single-atom graphs are
        kept; 2 drops them).
      max_atoms: largest heavy-atom count kept (``None`` = no limit).

    Returns: ``(graphs, kept_index, skipped)`` where ``skipped`` counts
    ``{"unparsable": k, "too_small": k, "too_large": k}``.
    """
    from rdkit import Chem, RDLogger

    if isinstance(smiles, str) or not hasattr(smiles, "__len__"):
        raise TypeError(f"`smiles` must be a sequence of SMILES strings; received {type(smiles).__name__}.")
    if len(smiles) != len(labels):
        raise ValueError(f"`smiles` and `labels` differ in length: {len(smiles)} vs {len(labels)}.")
    lab = np.asarray(labels)
    if lab.size and (lab.dtype.kind not in "biuf" or not np.all(np.isfinite(lab.astype(float)))
                     or not np.all(lab == np.round(lab))):
        raise ValueError(f"`labels` must be whole-number class labels; received values such as "
                         f"{lab.ravel()[:3].tolist()}.")
    min_atoms = check_positive_int(min_atoms, "min_atoms", minimum=0)
    if max_atoms is not None and check_positive_int(max_atoms, "max_atoms", minimum=0) < min_atoms:
        raise ValueError(f"`max_atoms` must be >= `min_atoms` ({min_atoms}); received {max_atoms}.")
    RDLogger.DisableLog("rdApp.*")
    graphs, kept, skipped = [], [], {"unparsable": 0, "too_small": 0, "too_large": 0}
    try:
        for i, (s, y) in enumerate(zip(smiles, labels)):
            mol = Chem.MolFromSmiles(str(s)) if isinstance(s, str) and s else None
            if mol is None:
                skipped["unparsable"] += 1
                continue
            n = mol.GetNumAtoms()
            if n < max(1, min_atoms):
                skipped["too_small"] += 1
                continue
            if max_atoms is not None and n > max_atoms:
                skipped["too_large"] += 1
                continue
            x, a = mol_to_graph(mol)
            node = edge = None
            if annotator is not None:
                node, edge = annotator.annotate(mol)
            graphs.append(GraphSample(x, a, int(y), node, edge, False, str(s)))
            kept.append(i)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return graphs, np.asarray(kept, int), skipped


# ------------------------------------------------------------------ splits
def bemis_murcko_scaffold(smiles, include_chirality=False):
    """Bemis–Murcko scaffold SMILES of a molecule (``""`` for acyclic ones)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles, includeChirality=include_chirality)


def _check_fracs(frac):
    if isinstance(frac, str) or not isinstance(frac, (list, tuple, np.ndarray)):
        raise TypeError(f"`frac` must be three fractions (train, valid, test); received {frac!r}.")
    if not all(isinstance(f, numbers.Real) and not isinstance(f, (bool, np.bool_)) for f in frac):
        raise TypeError(f"`frac` must hold three numbers (train, valid, test); received {frac!r}.")
    frac = tuple(float(f) for f in frac)
    if len(frac) != 3 or not all(np.isfinite(frac)) or min(frac) < 0 or abs(sum(frac) - 1.0) > 1e-6:
        raise ValueError(f"`frac` must be three non-negative fractions summing to 1; received {frac}.")
    return frac


def scaffold_split(smiles, frac=(0.8, 0.1, 0.1)):
    """Deterministic Bemis–Murcko scaffold split (DeepChem ``ScaffoldSplitter`` rule).

    Molecules are grouped by scaffold; groups are sorted by size (largest
    first, ties by first occurrence) and assigned whole to train until it would
    exceed ``frac[0]``, then to valid, then test. No scaffold is shared
    between splits. Returns three sorted int index arrays.
    """
    frac = _check_fracs(frac)
    if isinstance(smiles, str) or not hasattr(smiles, "__iter__"):
        raise TypeError(f"`smiles` must be a sequence of SMILES strings; received {type(smiles).__name__}.")
    groups = {}
    for i, s in enumerate(smiles):
        try:
            if not isinstance(s, str) or not s:
                raise ValueError("not a SMILES string")
            key = bemis_murcko_scaffold(s)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"`smiles`[{i}] = {s!r} cannot be parsed by RDKit ({exc}).") from None
        groups.setdefault(key, []).append(i)
    sets = sorted(groups.values(), key=lambda g: (len(g), -g[0]), reverse=True)
    n = len(smiles)
    train, valid, test = [], [], []
    cut_train, cut_valid = frac[0] * n, (frac[0] + frac[1]) * n
    for g in sets:
        if len(train) + len(g) > cut_train:
            if len(train) + len(valid) + len(g) > cut_valid:
                test += g
            else:
                valid += g
        else:
            train += g
    return tuple(np.asarray(sorted(s), int) for s in (train, valid, test))


def random_split(n, frac=(0.8, 0.1, 0.1), seed=0):
    """Seeded random split of ``range(n)`` into three sorted index arrays."""
    frac = _check_fracs(frac)
    n = check_positive_int(n, "n", minimum=0)
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(frac[0] * n))
    b = int(round((frac[0] + frac[1]) * n))
    return tuple(np.sort(p) for p in (perm[:a], perm[a:b], perm[b:]))


# ------------------------------------------------------------------ loaders
def load_b3db():
    """B3DB classification set from the offline ``qc-b3db`` package.

    Reads ``B3DB/B3DB_classification.tsv`` from the installed package directly
    (importing ``B3DB`` loads every bundled table). Returns ``(smiles, labels)``
    with BBB+ = 1, BBB− = 0 (7,807 molecules).
    """
    import pandas as pd

    spec = importlib.util.find_spec("B3DB")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("B3DB needs the `qc-b3db` package (pip install qc-b3db).")
    path = os.path.join(list(spec.submodule_search_locations)[0], "B3DB_classification.tsv")
    df = pd.read_csv(path, sep="\t")
    labels = (df["BBB+/BBB-"].astype(str).str.strip() == "BBB+").astype(int).to_numpy()
    return df["SMILES"].astype(str).tolist(), labels


_MOLNET = {
    "bbbp": ("smiles", "p_np"),
    "bace": ("mol", "Class"),
    "tox21": ("smiles", None),
}


def load_moleculenet_csv(path, dataset, task="NR-ER"):
    """A MoleculeNet CSV from a local path → ``(smiles, labels)``.

    Args:
      path: the CSV (``BBBP.csv``, ``bace.csv``, ``tox21.csv`` or ``.csv.gz``).
      dataset: ``"bbbp"`` (columns ``smiles``, ``p_np``), ``"bace"`` (``mol``,
        ``Class``) or ``"tox21"`` (``smiles`` and the ``task`` column).
      task: the Tox21 task (the paper uses ``NR-ER``); rows whose label is
        missing are dropped (Tox21 leaves unmeasured tasks empty).

    Labels must be 0 or 1 (``1.0`` is fine; ``0.5``, text or, outside Tox21, a
    missing label raise ``ValueError`` naming the column and the row); an
    empty SMILES cell raises too. SMILES that RDKit cannot parse are kept here
    and skipped, with a count, by :func:`featurize_smiles`.
    """
    import pandas as pd

    dataset = str(dataset).lower()
    if dataset not in _MOLNET:
        raise ValueError(f"`dataset` must be one of {sorted(_MOLNET)}; received {dataset!r}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"MoleculeNet CSV not found at {path!r}.")
    import warnings

    try:
        # index_col=False + ParserWarning as an error: pandas would otherwise turn the extra
        # leading fields of a too-long row into an index and shift every column silently.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, index_col=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path!r}: the file is empty; expected a CSV with a header row.") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
        raise ValueError(f"{path!r}: malformed CSV (rows must have as many fields as the header): "
                         f"{str(exc).strip()}") from None
    smi_col, y_col = _MOLNET[dataset]
    y_col = y_col or task
    for c in (smi_col, y_col):
        if c not in df.columns:
            raise ValueError(f"{path!r} has no column {c!r} (dataset={dataset!r}); columns: {list(df.columns)}.")
    smiles, labels = [], []
    for r, (s, v) in enumerate(zip(df[smi_col], df[y_col]), 1):
        where = f"row {r} (line {r + 1})"  # data rows are counted from 1; line 1 is the header
        if pd.isna(v):
            if dataset == "tox21":
                continue
            raise ValueError(f"{path!r}: `{y_col}` must be 0 or 1 (a binary label) in every row; {where} is missing.")
        v = v.item() if isinstance(v, np.generic) else v
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = None
        if f not in (0.0, 1.0):
            raise ValueError(f"{path!r}: `{y_col}` must be 0 or 1 (a binary label) in every row; {where} has "
                             f"{v!r}.")
        if pd.isna(s) or not str(s).strip():
            raise ValueError(f"{path!r}: `{smi_col}` must be a SMILES string in every row; {where} is empty.")
        smiles.append(str(s))
        labels.append(int(f))
    return smiles, np.asarray(labels, dtype=int)


def _json_numbers(value, where, key, ndim):
    """``value`` (parsed JSON) as a finite float32 array of rank ``ndim``; errors name ``where``/``key``."""
    shape_word = "a 1-D list" if ndim == 1 else "a 2-D list of equal-length rows"
    if not isinstance(value, list):
        raise ValueError(f"{where}: `{key}` must be {shape_word} of numbers; got {type(value).__name__}.")
    rows = [value] if ndim == 1 else value
    if ndim == 2:
        if not all(isinstance(r, list) for r in value):
            raise ValueError(f"{where}: `{key}` must be {shape_word} of numbers; got a non-list row.")
        lengths = sorted({len(r) for r in value})
        if len(lengths) > 1:
            raise ValueError(f"{where}: `{key}` is ragged (row lengths {lengths}); expected {shape_word}.")
    for r in rows:
        for v in r:
            if isinstance(v, list):
                raise ValueError(f"{where}: `{key}` must be {shape_word} of numbers; got a nested list.")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{where}: `{key}` must hold numbers; got {v!r}.")
    a = np.asarray(value, np.float32).reshape((len(value),) if ndim == 1 else (len(value), -1))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: `{key}` holds NaN or infinite values.")
    return a


def read_annotation_csv(path):
    """The authors' mask CSV → ``{img_idx: (status, node_importance (N,), edge_importance (N, N))}``.

    Columns ``img_idx`` (an integer), ``status``, ``record``; ``record`` is JSON
    with ``node_importance`` [N] and ``edge_importance`` [N][N] (finite
    numbers). Garbled JSON, missing keys or fields, ragged matrices,
    non-integer or repeated ids raise ``ValueError`` naming the file and line.
    """
    import csv
    import re

    out, first_line = {}, {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            for c in ("img_idx", "status", "record"):
                if c not in fields:
                    raise ValueError(f"annotation CSV {str(path)!r} lacks column {c!r}; columns: {fields}.")
            for row in reader:
                base = f"{path}, line {reader.line_num}"
                if None in row:
                    raise ValueError(f"{base}: {len(fields) + len(row[None])} fields but the header has "
                                     f"{len(fields)} {fields}; a quoted `record` cell is probably broken.")
                absent = [k for k in fields if row.get(k) is None]
                if absent:
                    raise ValueError(f"{base}: row has no {absent} field(s) (fewer fields than the header {fields}).")
                raw_idx = row["img_idx"].strip()
                if not re.fullmatch(r"[+-]?\d+", raw_idx):
                    raise ValueError(f"{base}: `img_idx` must be an integer; got {row['img_idx']!r}.")
                idx = int(raw_idx)
                if idx in out:
                    raise ValueError(f"{base}: `img_idx` {idx} already given at line {first_line[idx]}; "
                                     "each graph may be annotated once.")
                where = f"{base} (img_idx {idx})"
                status = row["status"].strip()
                if not status:
                    raise ValueError(f"{where}: `status` is empty.")
                try:
                    rec = json.loads(row["record"])
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise ValueError(f"{where}: `record` is not valid JSON ({exc}); got "
                                     f"{row['record'][:60]!r}.") from None
                if not isinstance(rec, dict):
                    raise ValueError(f"{where}: `record` must be a JSON object with node_importance and "
                                     f"edge_importance; got {type(rec).__name__}.")
                for k in ("node_importance", "edge_importance"):
                    if k not in rec:
                        raise ValueError(f"{where}: `record` is missing key {k!r}; keys: {sorted(rec)}.")
                node = _json_numbers(rec["node_importance"], where, "node_importance", 1)
                edge = _json_numbers(rec["edge_importance"], where, "edge_importance", 2)
                if edge.shape != (node.size, node.size):
                    raise ValueError(f"{where}: edge_importance shape {edge.shape} does not match "
                                     f"{node.size} nodes.")
                out[idx] = (status, node, edge)
                first_line[idx] = reader.line_num
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text CSV ({exc}).") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV ({exc}).") from None
    return out


# ------------------------------------------------------------ rule masks
#: SMARTS of the rule annotator, by category.
FUNCTIONAL_GROUPS = {
    "hydroxyl": "[OX2H]", "carbonyl": "[CX3]=[OX1]", "carboxyl": "[CX3](=O)[OX2H1,OX1-]",
    "ester": "[#6][CX3](=O)[OX2][#6]", "amide": "[NX3][CX3](=[OX1])", "amine": "[NX3;H2,H1;!$(NC=O)]",
    "nitro": "[$([NX3](=O)=O),$([NX3+](=O)[O-])]", "nitrile": "[NX1]#[CX2]",
    "sulfonyl": "[SX4](=[OX1])(=[OX1])", "thiol": "[SX2H]", "halogen": "[F,Cl,Br,I]",
    "phosphate": "[PX4](=O)", "imine": "[CX3]=[NX2]",
}
DONOR_ACCEPTOR_GROUPS = {
    "edg_hydroxyl_on_ring": "[OX2H]c", "edg_alkoxy_on_ring": "[OX2]([CX4])c", "edg_amino_on_ring": "[NX3;!$(NC=O)]c",
    "ewg_nitro_on_ring": "c[$([NX3](=O)=O),$([NX3+](=O)[O-])]", "ewg_carbonyl_on_ring": "c[CX3]=O",
    "ewg_cyano_on_ring": "cC#N", "ewg_trifluoromethyl": "C(F)(F)F", "ewg_sulfonyl_on_ring": "cS(=O)=O",
}
_PAULING = {"H": 2.20, "C": 2.55, "N": 3.04, "O": 3.44, "F": 3.98, "P": 2.19, "S": 2.58, "Cl": 3.16,
            "Br": 2.96, "I": 2.66, "B": 2.04, "Si": 1.90, "Se": 2.55, "Na": 0.93, "K": 0.82, "Li": 0.98}
RULE_CATEGORIES = ("functional_groups", "polar_bonds", "donor_acceptor", "conjugated")


class RuleAnnotator:
    """Rule-based node/edge importance for molecules (stand-in for chemist masks).

    Marks (binary, 1 = important):

    * ``"functional_groups"``: atoms of each SMARTS match in
      :data:`FUNCTIONAL_GROUPS` and the bonds inside the match;
    * ``"polar_bonds"``: bonds whose Pauling electronegativity difference is at
      least ``polar_threshold`` (default 0.4: C–N, C–O, C–halogen, S=O, …) and
      their atoms;
    * ``"donor_acceptor"``: electron-donating/withdrawing groups on aromatic
      rings (:data:`DONOR_ACCEPTOR_GROUPS`);
    * ``"conjugated"``: conjugated bonds that are **not** in aromatic rings
      (``conjugated_aromatic=False``: rings would mark most of a drug-like
      molecule; set True to include them).

    Args:
      categories: subset of :data:`RULE_CATEGORIES` (default all).
      polar_threshold: electronegativity-difference threshold.
      conjugated_aromatic: also mark aromatic conjugated bonds.

    Example:
      >>> node, edge = RuleAnnotator().annotate(Chem.MolFromSmiles("OCc1ccccc1"))
    """

    def __init__(self, categories=RULE_CATEGORIES, polar_threshold=0.4, conjugated_aromatic=False):
        from rdkit import Chem

        if isinstance(categories, str) or not isinstance(categories, (list, tuple)):
            raise TypeError(f"`categories` must be a list/tuple of rule names from {RULE_CATEGORIES}; received "
                            f"{categories!r}.")
        bad = [c for c in categories if c not in RULE_CATEGORIES]
        if bad:
            raise ValueError(f"`categories` must be a subset of {RULE_CATEGORIES}; received unknown {bad}.")
        self.categories = tuple(categories)
        self.polar_threshold = check_float(polar_threshold, "polar_threshold", low=0.0)
        self.conjugated_aromatic = check_bool(conjugated_aromatic, "conjugated_aromatic")
        pats = {}
        if "functional_groups" in self.categories:
            pats.update(FUNCTIONAL_GROUPS)
        if "donor_acceptor" in self.categories:
            pats.update(DONOR_ACCEPTOR_GROUPS)
        self._patterns = {k: Chem.MolFromSmarts(v) for k, v in pats.items()}

    def annotate(self, mol):
        """``(node (N,), edge (N, N))`` float32 binary masks for an RDKit mol (or SMILES)."""
        from rdkit import Chem

        if isinstance(mol, str):
            parsed = Chem.MolFromSmiles(mol)
            if parsed is None:
                raise ValueError(f"`mol`: RDKit cannot parse SMILES {mol!r}.")
            mol = parsed
        n = mol.GetNumAtoms()
        node = np.zeros(n, np.float32)
        edge = np.zeros((n, n), np.float32)

        def mark_bond(b):
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            edge[i, j] = edge[j, i] = 1.0
            node[i] = node[j] = 1.0

        for patt in self._patterns.values():
            for match in mol.GetSubstructMatches(patt):
                node[list(match)] = 1.0
                ms = set(match)
                for b in mol.GetBonds():
                    if b.GetBeginAtomIdx() in ms and b.GetEndAtomIdx() in ms:
                        mark_bond(b)
        for b in mol.GetBonds():
            if "polar_bonds" in self.categories:
                e1 = _PAULING.get(b.GetBeginAtom().GetSymbol())
                e2 = _PAULING.get(b.GetEndAtom().GetSymbol())
                if e1 is not None and e2 is not None and abs(e1 - e2) >= self.polar_threshold:
                    mark_bond(b)
            if "conjugated" in self.categories and b.GetIsConjugated():
                if self.conjugated_aromatic or not b.GetIsAromatic():
                    mark_bond(b)
        return node, edge


def assign_annotations(graphs, train_idx, test_idx=(), fraction=0.1, seed=0):
    """Flag which graphs carry human masks: ``fraction`` of ``train_idx`` and all of ``test_idx``.

    Sets ``GraphSample.has_annotation`` in place (graphs without masks are
    never flagged) and returns the flagged training indices.
    """
    fraction = check_float(fraction, "fraction", low=0.0, high=1.0)
    idx = {}
    for name, ids in (("train_idx", train_idx), ("test_idx", test_idx)):
        arr = np.asarray(ids).ravel()
        if arr.size and (arr.dtype.kind not in "iu"):
            raise TypeError(f"`{name}` must be integer graph indices; received dtype {arr.dtype}.")
        if arr.size and (arr.min() < 0 or arr.max() >= len(graphs)):
            raise ValueError(f"`{name}` must be indices in [0, {len(graphs)}); received min {arr.min()}, "
                             f"max {arr.max()}.")
        idx[name] = arr.astype(int)
    for g in graphs:
        g.has_annotation = False
    train_idx = idx["train_idx"]
    k = int(round(float(fraction) * len(train_idx)))
    chosen = np.sort(np.random.default_rng(seed).choice(train_idx, size=k, replace=False)) if k else np.zeros(0, int)
    for i in list(chosen) + list(test_idx):
        if graphs[i].node_importance is not None:
            graphs[i].has_annotation = True
    return chosen


# --------------------------------------------------------- scene graphs
def make_scene_graphs(n_per_class=1000, n_types=20, feature_dim=32, n_distractors=(6, 12),
                      motif_size=3, noise=0.5, distractor_edge_p=0.25, label_noise=0.0, seed=0):
    """Scene-graph-like binary classification with planted explanations.

    Each class owns a motif: ``motif_size`` object types (drawn from a vocabulary
    of ``n_types``) connected as a path of relations. A graph holds its class's
    motif plus ``n_distractors`` random objects (any type, including single
    motif types of the other class, unconnected to each other as a motif) with
    random relations (probability ``distractor_edge_p``) and a few links between
    the motif and the distractors. Node features are a fixed random embedding of
    the object type (a stand-in for the paper's InceptionV3 crop features) plus
    Gaussian ``noise``. Ground truth: motif nodes and motif edges = 1.

    Returns a list of :class:`GraphSample` (labels 0/1, masks filled,
    ``has_annotation`` False).
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class", minimum=0)
    n_types = check_positive_int(n_types, "n_types")
    feature_dim = check_positive_int(feature_dim, "feature_dim")
    motif_size = check_positive_int(motif_size, "motif_size", minimum=2)
    if not isinstance(n_distractors, (tuple, list)) or len(n_distractors) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in n_distractors) \
            or n_distractors[0] < 0 or n_distractors[1] < n_distractors[0]:
        raise ValueError(f"`n_distractors` must be an inclusive (min, max) pair of ints with 0 <= min <= max; "
                         f"received {n_distractors!r}.")
    check_float(noise, "noise", low=0.0)
    check_float(distractor_edge_p, "distractor_edge_p", low=0.0, high=1.0)
    check_float(label_noise, "label_noise", low=0.0, high=1.0)
    rng = np.random.default_rng(seed)
    if n_types < 2 * motif_size:
        raise ValueError(f"`n_types` must be >= 2*motif_size={2 * motif_size}; received {n_types}.")
    emb = rng.normal(size=(n_types, feature_dim)).astype(np.float32)
    types = rng.permutation(n_types)
    motifs = [types[:motif_size], types[motif_size:2 * motif_size]]
    graphs = []
    for label in (0, 1):
        for _ in range(int(n_per_class)):
            k = int(rng.integers(n_distractors[0], n_distractors[1] + 1))
            dis = rng.integers(0, n_types, size=k)
            t = np.concatenate([motifs[label], dis])
            n = len(t)
            a = np.zeros((n, n), np.float32)
            for i in range(motif_size - 1):
                a[i, i + 1] = a[i + 1, i] = 1.0
            e_true = a.copy()
            for i in range(motif_size, n):
                for j in range(i + 1, n):
                    if rng.random() < distractor_edge_p:
                        a[i, j] = a[j, i] = 1.0
                j = int(rng.integers(0, motif_size))
                if rng.random() < 0.3:
                    a[i, j] = a[j, i] = 1.0
            node = np.zeros(n, np.float32)
            node[:motif_size] = 1.0
            perm = rng.permutation(n)
            x = emb[t] + noise * rng.normal(size=(n, feature_dim)).astype(np.float32)
            y = label if rng.random() >= label_noise else 1 - label
            graphs.append(GraphSample(x[perm], a[np.ix_(perm, perm)], int(y), node[perm],
                                      e_true[np.ix_(perm, perm)], False))
    order = rng.permutation(len(graphs))
    return [graphs[i] for i in order]


# ------------------------------------------------------------- batching
def pad_batch(graphs, n_layers=3, n_nodes=None):
    """Pad a list of :class:`GraphSample` into the GNES input dict and labels.

    Returns ``(inputs, y)``: ``inputs`` has ``x`` (B, N, F), ``a_1..a_L``
    (B, N, N) normalised adjacencies (the same array for every layer),
    ``node_mask`` (B, N), ``adjacency`` (B, N, N), ``node_importance`` (B, N),
    ``edge_importance`` (B, N, N) and ``has_annotation`` (B,); ``y`` (B,) int.
    """
    if not graphs:
        raise ValueError("`graphs` is empty.")
    bad = [type(g).__name__ for g in graphs if not isinstance(g, GraphSample)]
    if bad:
        raise TypeError(f"`graphs` must hold GraphSample objects; received {bad[:3]}.")
    n_layers = check_positive_int(n_layers, "n_layers")
    if n_nodes is not None:
        n_nodes = check_positive_int(n_nodes, "n_nodes")
        largest = max(g.n_nodes for g in graphs)
        if n_nodes < largest:
            raise ValueError(f"`n_nodes`={n_nodes} is smaller than the largest graph ({largest} nodes).")
    b = len(graphs)
    n = max(g.n_nodes for g in graphs) if n_nodes is None else int(n_nodes)
    f = graphs[0].x.shape[1]
    x = np.zeros((b, n, f), np.float32)
    v = np.zeros((b, n, n), np.float32)
    adj = np.zeros((b, n, n), np.float32)
    mask = np.zeros((b, n), np.float32)
    node = np.zeros((b, n), np.float32)
    edge = np.zeros((b, n, n), np.float32)
    flag = np.zeros((b,), np.float32)
    y = np.zeros((b,), np.int32)
    for i, g in enumerate(graphs):
        k = g.n_nodes
        if k > n:
            raise ValueError(f"graph {i} has {k} nodes, more than `n_nodes`={n}.")
        if g.x.shape[1] != f:
            raise ValueError(f"graph {i} has {g.x.shape[1]} features; expected {f}.")
        x[i, :k] = g.x
        v[i, :k, :k] = g.normalized()
        adj[i, :k, :k] = g.adjacency
        mask[i, :k] = 1.0
        if g.has_annotation and g.node_importance is not None:
            node[i, :k] = g.node_importance
            flag[i] = 1.0
            if g.edge_importance is not None:
                edge[i, :k, :k] = g.edge_importance
        y[i] = g.label
    inputs = {"x": x, "node_mask": mask, "adjacency": adj, "node_importance": node,
              "edge_importance": edge, "has_annotation": flag}
    for l in range(int(n_layers)):
        inputs[f"a_{l + 1}"] = v
    return inputs, y


def _batches(graphs, batch_size, shuffle, rng, bucket=8):
    idx = np.arange(len(graphs))
    if shuffle:
        idx = rng.permutation(idx)
    # Sort within chunks of `bucket` batches by size: less padding, order still random.
    chunk = batch_size * bucket
    out = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s:s + chunk], key=lambda i: graphs[i].n_nodes)
        out += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    if shuffle:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def graph_dataset(graphs, batch_size=32, n_layers=3, shuffle=True, seed=0, bucket=8):
    """A ``tf.data.Dataset`` of padded batches ``(inputs dict, y)`` for ``fit``/``evaluate``.

    Batches are re-shuffled every epoch (seeded: epoch ``e`` uses ``seed + e``),
    graphs of similar size are batched together (within chunks of ``bucket``
    batches) and each batch is padded to its largest graph.
    """
    from keras_egl._keras import tf

    if not graphs:
        raise ValueError("`graphs` is empty.")
    batch_size = check_positive_int(batch_size, "batch_size", minimum=0)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1; received {batch_size!r}.")
    n_layers = check_positive_int(n_layers, "n_layers")
    bucket = check_positive_int(bucket, "bucket")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int; received {type(seed).__name__} {seed!r}.")
    for g in graphs:
        g.normalized()
    f = graphs[0].x.shape[1]
    epoch = [0]

    def gen():
        rng = np.random.default_rng(seed + epoch[0])
        epoch[0] += 1
        for ids in _batches(graphs, int(batch_size), shuffle, rng, bucket):
            inputs, y = pad_batch([graphs[i] for i in ids], n_layers)
            yield inputs, y

    spec = {"x": tf.TensorSpec((None, None, f), tf.float32),
            "node_mask": tf.TensorSpec((None, None), tf.float32),
            "adjacency": tf.TensorSpec((None, None, None), tf.float32),
            "node_importance": tf.TensorSpec((None, None), tf.float32),
            "edge_importance": tf.TensorSpec((None, None, None), tf.float32),
            "has_annotation": tf.TensorSpec((None,), tf.float32)}
    for l in range(int(n_layers)):
        spec[f"a_{l + 1}"] = tf.TensorSpec((None, None, None), tf.float32)
    ds = tf.data.Dataset.from_generator(gen, output_signature=(spec, tf.TensorSpec((None,), tf.int32)))
    return ds.prefetch(2)
