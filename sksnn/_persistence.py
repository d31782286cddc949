"""Saving fitted estimators in a format that runs no code when loaded.

A pickle (or joblib) file can execute anything on load, so it must come from
someone you trust. :func:`save` writes a zip archive holding only data: a JSON
description (class, parameters, fitted scalars, labels) and a NumPy ``.npz``
of the arrays (weights, scaler statistics, optimizer state), read back with
``allow_pickle=False``. :func:`load` rebuilds only the classes registered
with :func:`loadable` (sksnn's estimators, by name: this module imports none
of them), checks
a SHA-256 of both members (a corrupted or edited file is refused), and checks
that the arrays fit the described network before returning the estimator.
"""

import hashlib
import io
import json
import zipfile
import zlib
from numbers import Integral, Real

import numpy as np
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._embeddings import PiecewiseLinearEncoding
from ._version import __version__

FORMAT = "sksnn-model"
FORMAT_VERSION = 1
_MEMBERS = ("model.json", "arrays.npz", "sha256")
_LOADABLE = {}  # class name -> class: the only classes load() rebuilds


def loadable(cls):
    """Class decorator: ``cls`` is an estimator that :func:`load` may rebuild, by its name."""
    _LOADABLE[cls.__name__] = cls
    return cls


class _Encoder:
    """Turns estimator attributes into JSON values, moving arrays aside."""

    def __init__(self):
        self.arrays = {}

    def array(self, value):
        value = np.asarray(value)
        if value.dtype == object:  # labels or feature names: JSON keeps str/int/float/bool
            items = value.tolist()
            if not all(isinstance(v, (str, bool, Integral, Real)) for v in items):
                raise TypeError("Only labels and feature names of str, int, float or bool can be saved.")
            return {"object_array": [v.item() if isinstance(v, np.generic) else v for v in items]}
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return {"array": key}

    def value(self, value):
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, StandardScaler):
            return {"standard_scaler": {k: self.value(v) for k, v in vars(value).items()}}
        if isinstance(value, LabelBinarizer):
            return {"label_binarizer": {k: self.value(v) for k, v in vars(value).items()}}
        if isinstance(value, PiecewiseLinearEncoding):
            return {"piecewise_linear_encoding": {k: self.value(v) for k, v in vars(value).items()}}
        if isinstance(value, (list, tuple)):
            return {"list": [self.value(v) for v in value], "tuple": isinstance(value, tuple)}
        if isinstance(value, dict):  # class_weight: keys may be labels of any type
            return {"dict": [[self.value(k), self.value(v)] for k, v in value.items()]}
        if value is None or isinstance(value, (str, bool, Integral, Real)):
            return value
        raise TypeError(f"Cannot save a value of type {type(value).__name__}.")


def _decode(value, arrays):
    if not isinstance(value, dict):
        return value
    (kind, content), *rest = value.items()
    if kind == "array":
        return arrays[content]
    if kind == "object_array":
        return np.asarray(content, dtype=object)
    if kind == "list":
        items = [_decode(v, arrays) for v in content]
        return tuple(items) if dict(rest).get("tuple") else items
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in content}
    if kind in _REBUILT:
        obj = _REBUILT[kind].__new__(_REBUILT[kind])  # its state, not its constructor's arguments
        vars(obj).update({k: _decode(v, arrays) for k, v in content.items()})
        return obj
    raise ValueError(f"Unknown entry {kind!r} in the model description.")


# The fitted parts of an estimator that load rebuilds from their attributes.
_REBUILT = {
    "standard_scaler": StandardScaler,
    "label_binarizer": LabelBinarizer,
    "piecewise_linear_encoding": PiecewiseLinearEncoding,
}


def _digest(description, arrays):
    return hashlib.sha256(hashlib.sha256(description).digest() + hashlib.sha256(arrays).digest()).hexdigest()


def save(estimator, path):
    """Write a fitted estimator to ``path`` in sksnn's safe format (see :func:`load`)."""
    check_is_fitted(estimator)
    encoder = _Encoder()
    params = estimator.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
        params["random_state"] = None  # a RandomState instance is not data; documented
    attributes = {k: v for k, v in vars(estimator).items() if k not in params}
    description = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sksnn_version": __version__,
        "estimator": type(estimator).__name__,
        "params": {k: encoder.value(v) for k, v in params.items()},
        "attributes": {k: encoder.value(v) for k, v in attributes.items()},
    }
    description_bytes = json.dumps(description, indent=1).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **encoder.arrays)
    arrays_bytes = buffer.getvalue()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.json", description_bytes)
        archive.writestr("arrays.npz", arrays_bytes)
        archive.writestr("sha256", _digest(description_bytes, arrays_bytes))


def load(path):
    """Read an estimator written by ``save``; no code in the file is ever run.

    The file holds only data: a JSON description and NumPy arrays, read with
    ``allow_pickle=False``. Only sksnn's own estimator classes are rebuilt,
    their parameters are validated again and the weight shapes checked, and a
    SHA-256 over both parts must match, so an edited or corrupted file is
    refused rather than loaded. Use it instead of pickle for files from others.

    Parameters
    ----------
    path : str or path-like or file-like
        A file written by :meth:`SNNClassifier.save` / :meth:`SNNRegressor.save`.

    Returns
    -------
    estimator : SNNClassifier or SNNRegressor
        The fitted estimator, predicting exactly as the one saved.

    Raises
    ------
    ValueError
        If the file is not an sksnn model file, was modified or corrupted
        after saving, or describes an inconsistent network.

    See Also
    --------
    SNNClassifier.save : Write a fitted classifier in this format.
    SNNRegressor.save : Write a fitted regressor in this format.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sksnn import SNNClassifier, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SNNClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.snn")
    >>> clf.save(path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    content = _read_bytes(path)  # a path that cannot be read raises OSError, as open() does
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sorted(archive.namelist()) != sorted(_MEMBERS):
                raise ValueError(f"expected exactly the members {_MEMBERS}, found {archive.namelist()}")
            description_bytes, arrays_bytes, digest = (archive.read(m) for m in _MEMBERS)
        description = json.loads(description_bytes)
        if not isinstance(description, dict) or description.get("format") != FORMAT:
            raise ValueError("no sksnn format marker")
    except _UNREADABLE as error:
        raise ValueError(f"{path!s} is not an sksnn model file ({type(error).__name__}: {error}).") from None
    if digest.decode(errors="replace") != _digest(description_bytes, arrays_bytes):
        raise ValueError(f"{path!s} was modified or corrupted after it was saved (SHA-256 mismatch); refusing it.")
    if description.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path!s} has format version {description.get('format_version')}; this sksnn reads 1.")
    if description.get("estimator") not in _LOADABLE:
        raise ValueError(f"{path!s} describes an unknown estimator {description.get('estimator')!r}.")

    with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    estimator = _LOADABLE[description["estimator"]]()
    estimator.set_params(**{k: _decode(v, arrays) for k, v in description["params"].items()})
    estimator._validate_params()
    vars(estimator).update({k: _decode(v, arrays) for k, v in description["attributes"].items()})
    _check_network(estimator, path)
    return estimator


# What parsing corrupted bytes can raise: zipfile's own errors, and those of
# the decompressor (zlib.error), of reading past the end (EOFError), of a
# mangled header (OSError, NotImplementedError for an unknown compression
# method, RuntimeError for an "encrypted" flag) and of the JSON (ValueError).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    KeyError,
)


def _read_bytes(path):
    if hasattr(path, "read"):
        return path.read()
    with open(path, "rb") as file:
        return file.read()


def _check_network(estimator, path):
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    embedding = getattr(estimator, "embedding_", None)
    inputs = estimator.n_features_in_
    if embedding is not None:
        try:
            embedding.check()
        except (ValueError, AttributeError, TypeError):
            raise ValueError(f"{path!s} describes an inconsistent numerical embedding.") from None
        inputs = embedding.n_features_out_ if embedding.n_features_in_ == inputs else -1
    widths = [inputs] + [c.shape[1] for c in coefs]
    members = estimator._members()  # a packed ensemble's scales, or None
    try:
        n_members = () if members is None else (len(members[0][0]),)
    except (TypeError, IndexError, KeyError):
        raise ValueError(f"{path!s} describes an inconsistent network (member scales).") from None
    consistent = (
        len(coefs) == len(intercepts) == estimator.n_layers_ - 1
        and all(c.ndim == 2 and c.shape[0] == w for c, w in zip(coefs, widths))
        and all(b.shape == (*n_members, c.shape[1]) for b, c in zip(intercepts, coefs))
        and widths[-1] == estimator.n_outputs_
    )
    if members is not None:
        input_scales, output_scales = members
        consistent = (
            consistent
            and n_members[0] == estimator.n_members
            and len(input_scales) == len(output_scales) == len(coefs)
            and all(np.shape(r) == (*n_members, c.shape[0]) for r, c in zip(input_scales, coefs))
            and all(np.shape(s) == (*n_members, c.shape[1]) for s, c in zip(output_scales, coefs))
        )
    elif getattr(estimator, "n_members", 1) != 1:
        consistent = False
    if not consistent:
        raise ValueError(f"{path!s} describes an inconsistent network (weight shapes do not chain).")
