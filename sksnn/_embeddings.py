"""Numerical feature embeddings: the piecewise-linear encoding over quantile bins, in NumPy.

Gorishniy et al. (2022, "On embeddings for numerical features in tabular deep
learning") encode each numerical feature ``x`` over the edges
``e_0 < ... < e_T`` of its quantile bins as ``T`` numbers, the share of each
bin that ``x`` has passed: ``clip((x - e_{t-1}) / (e_t - e_{t-1}), 0, 1)``.
A network then needs far fewer units to bend its response at the bins' edges,
which is where MLPs lag behind gradient boosting on tabular data.

sksnn appends these components to X's own columns (X keeps the network's
extrapolation beyond the edges): :class:`PiecewiseLinearEncoding` is fitted
on a fit's training rows, before the built-in scaler, which then
standardizes X's columns and the components alike. A feature with fewer than
three distinct edges (a constant, a one-hot or other binary column) gets no
components: they would only repeat it. :class:`EmbeddedRows` applies the
encoding block by block, so X (a memory map included) is never widened whole:
for the scaler, the validation rows and ``predict``. Training computes the
same components inside its compiled step instead (``_trainer``), from X's
own standardized columns.

No backend is involved: a loaded model encodes its input in NumPy, and
``sksnn.onnx`` writes the same steps as ONNX operators.
"""

import numpy as np
import scipy.sparse as sp

# Rows the edges are estimated from (a random subset above it), as
# HistGradientBoosting's binning subsamples (200,000 rows for 255 bins): with
# at most a few dozen bins, 20,000 rows place each edge to ~0.4% of the rows,
# and the sample stays small next to a large X (a fit adds ~0.3x X in all).
QUANTILE_ROWS = 20_000
# Columns whose quantiles are computed at once (np.quantile sorts a copy).
_QUANTILE_COLUMNS = 64


class PiecewiseLinearEncoding:
    """The piecewise-linear encoding of each feature over its quantile bins.

    Parameters
    ----------
    n_bins : int
        The most bins per feature (fewer where quantiles coincide).

    Attributes
    ----------
    n_features_in_ : int
        Columns of X.
    feature_index_ : ndarray of shape (n_components,)
        The column of X each component encodes (ascending).
    lower_ : ndarray of shape (n_components,)
        The lower edge of each component's bin.
    width_ : ndarray of shape (n_components,)
        The width of each component's bin (positive).
    """

    def __init__(self, n_bins):
        self.n_bins = n_bins

    def fit(self, X, seed=0):
        """Learn each feature's bin edges from the rows of ``X`` (at most ``QUANTILE_ROWS``, drawn with ``seed``)."""
        n_rows = X.shape[0]
        rows = slice(None)
        if n_rows > QUANTILE_ROWS:
            rows = np.sort(np.random.RandomState(seed).choice(n_rows, QUANTILE_ROWS, replace=False))
        sample = X[rows]  # in X's dtype: a float64 copy of a float32 X would double it
        if sp.issparse(sample):
            sample = sample.toarray()
        sample = np.asarray(sample)
        levels = np.linspace(0.0, 1.0, self.n_bins + 1)
        edges = np.empty((len(levels), sample.shape[1]))  # (n_bins + 1, n_features)
        for start in range(0, sample.shape[1], _QUANTILE_COLUMNS):
            block = slice(start, start + _QUANTILE_COLUMNS)
            edges[:, block] = np.quantile(sample[:, block], levels, axis=0)
        index, lower, width = [], [], []
        for column in range(sample.shape[1]):
            unique = np.unique(edges[:, column])
            if len(unique) < 3:  # one bin: the component is an affine copy of the feature
                continue
            index.append(np.full(len(unique) - 1, column))
            lower.append(unique[:-1])
            width.append(np.diff(unique))
        self.n_features_in_ = sample.shape[1]
        self.feature_index_ = np.concatenate(index).astype(np.intp) if index else np.zeros(0, dtype=np.intp)
        self.lower_ = np.concatenate(lower) if lower else np.zeros(0)
        self.width_ = np.concatenate(width) if width else np.zeros(0)
        return self

    @property
    def n_features_out_(self):
        """Columns of the encoded X: X's own and the components."""
        return self.n_features_in_ + len(self.feature_index_)

    def transform(self, X):
        """``[X, components]`` as a new dense array in X's floating dtype (a sparse X is densified)."""
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X)
        d = X.shape[1]
        out = np.empty((X.shape[0], d + len(self.feature_index_)), dtype=X.dtype)
        out[:, :d] = X
        components = out[:, d:]
        np.take(X, self.feature_index_, axis=1, out=components)
        components -= self.lower_.astype(X.dtype)
        components /= self.width_.astype(X.dtype)
        np.clip(components, 0.0, 1.0, out=components)
        return out

    def check(self):
        """Raise ValueError unless the fitted arrays describe an encoding (a loaded file's)."""
        index, lower, width = self.feature_index_, self.lower_, self.width_
        valid = (
            index.ndim == lower.ndim == width.ndim == 1
            and len(index) == len(lower) == len(width)
            and np.issubdtype(index.dtype, np.integer)
            and (len(index) == 0 or (index.min() >= 0 and index.max() < self.n_features_in_))
            and bool(np.all(width > 0))
        )
        if not valid:
            raise ValueError("inconsistent piecewise-linear encoding")


class EmbeddedRows:
    """X seen through a fitted encoding: indexing rows returns those rows encoded.

    Has what the fit and the forward pass read of X (``shape``, ``dtype``,
    rows by slice or index array), so the scaler, the chunks of batches and
    ``_inference.forward`` encode X block by block.
    """

    def __init__(self, X, encoding):
        self.array = X
        self.encoding = encoding
        self.shape = (X.shape[0], encoding.n_features_out_)
        self.dtype = X.dtype
        self.ndim = 2

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        return self.encoding.transform(self.array[key])
