"""Self-normalizing neural networks as scikit-learn estimators.

Importing sksnn imports neither Keras nor a backend: they load on the first
``fit`` (prediction runs on NumPy). ``sksnn.onnx`` registers the estimators
with skl2onnx; sksnn imports it itself when skl2onnx was imported first.
"""

import sys

from ._classifier import SNNClassifier
from ._persistence import load
from ._regressor import SNNRegressor
from ._version import __version__

if "skl2onnx" in sys.modules:  # already paid for: register the converters (see sksnn.onnx)
    from . import onnx  # noqa: F401

__all__ = ["SNNClassifier", "SNNRegressor", "build_snn", "load", "__version__"]


def __getattr__(name):
    # build_snn lives with the Keras graph; import Keras only when asked for.
    if name == "build_snn":
        from ._network import build_snn

        return build_snn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
