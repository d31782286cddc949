"""ONNX export: converters of SNNClassifier and SNNRegressor for skl2onnx.

Importing this module registers both estimators with skl2onnx (its
documented ``update_registered_converter``), so that ``skl2onnx.to_onnx`` and
``convert_sklearn`` convert them alone or inside any pipeline. ``import
sksnn`` registers them too when skl2onnx was imported before sksnn; either
way, :func:`register` may be called again at no cost. Needs the ``onnx``
extra (``pip install "sksnn[onnx]"``: skl2onnx and onnxruntime).

The graph is what ``predict`` and ``predict_proba`` compute, from
``embedding_``, ``scaler_``, ``coefs_`` and ``intercepts_``: the numerical
embedding (Gather, Sub, Div, Max, Min, Concat), standardization, the Dense
layers and their activations (SELU with sksnn's constants), the output
activation (softmax, logistic, identity, or ``exp`` for ``loss='poisson'``),
for a packed ensemble each member's (its scales broadcast over a leading
member axis) and their mean (ReduceMean), then the class labels (any int, bool or string labels; binary, multiclass
and multilabel) or the regressor's target scaling. It computes in the input's
type: ``FloatTensorType`` (float32) or ``DoubleTensorType`` (float64), the
weights cast to it. Classifiers take scikit-learn classifiers' options
``zipmap`` (True, False, 'columns'), ``nocl`` and ``output_class_labels``.

The ONNX graph takes dense inputs: a model trained on a sparse X converts,
and is given the rows densified. What cannot be expressed raises
:class:`OnnxConversionError`, naming it.
"""

import numpy as np

from ._activations import SELU_ALPHA, SELU_SCALE
from ._classifier import SNNClassifier
from ._regressor import SNNRegressor

__all__ = ["OnnxConversionError", "register"]

_ALIASES = {SNNClassifier: "SksnnSNNClassifier", SNNRegressor: "SksnnSNNRegressor"}
_CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False], "output_class_labels": [False, True]}


class OnnxConversionError(ValueError):
    """A fitted sksnn estimator holds something an ONNX graph cannot express."""


def register():
    """Register the converters of SNNClassifier and SNNRegressor with skl2onnx (idempotent)."""
    from skl2onnx import update_registered_converter

    update_registered_converter(
        SNNClassifier,
        _ALIASES[SNNClassifier],
        _classifier_shapes,
        _convert_classifier,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(SNNRegressor, _ALIASES[SNNRegressor], _regressor_shapes, _convert_regressor)


# ---------------------------------------------------------------- shape calculators
def _input_tensor_type(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(operator.raw_operator)  # scikit-learn's error, naming the estimator
    input_type = operator.inputs[0].type
    if not isinstance(input_type, FloatTensorType | DoubleTensorType):
        raise OnnxConversionError(
            f"{type(operator.raw_operator).__name__} converts for FloatTensorType or DoubleTensorType inputs, "
            f"not {type(input_type).__name__}: cast the input to float32 or float64 first."
        )
    return type(input_type)


def _classifier_shapes(operator):
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    from skl2onnx.common.utils_classifier import get_label_classes

    tensor_type = _input_tensor_type(operator)
    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    classes = _label_values(get_label_classes(operator.scope_inst, model), model)
    label_type = StringTensorType if classes.dtype.kind in "OUS" else Int64TensorType
    multilabel = _is_multilabel(model)
    operator.outputs[0].set_type(label_type(shape=[n_rows, len(model.classes_)] if multilabel else [n_rows]))
    operator.outputs[1].set_type(tensor_type(shape=[n_rows, len(model.classes_)]))


def _regressor_shapes(operator):
    tensor_type = _input_tensor_type(operator)
    operator.outputs[0].set_type(
        tensor_type(shape=[operator.inputs[0].get_first_dimension(), operator.raw_operator.n_outputs_])
    )


# ---------------------------------------------------------------- the graph
class _Graph:
    """Adds nodes and initializers to skl2onnx's container, in one floating-point type."""

    def __init__(self, scope, container, dtype):
        from skl2onnx.proto import onnx_proto

        self.scope, self.container, self.dtype = scope, container, np.dtype(dtype)
        self.proto = onnx_proto.TensorProto.DOUBLE if self.dtype == np.float64 else onnx_proto.TensorProto.FLOAT

    def constant(self, value, name="constant", proto=None, dtype=None):
        value = np.asarray(value, dtype=dtype or self.dtype)
        unique = self.scope.get_unique_variable_name(name)
        flat = value.ravel() if value.dtype.kind not in "OUS" else [str(v).encode("utf-8") for v in value.ravel()]
        self.container.add_initializer(unique, proto or self.proto, list(value.shape), flat)
        return unique

    def node(self, op_type, inputs, output=None, **attributes):
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        name = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, list(inputs), output, name=name, op_version=_OPSETS[op_type], **attributes)
        return output

    def member_mean(self, x):
        """The mean over the leading (member) axis: ReduceMean, its axes an input from opset 18 on."""
        from skl2onnx.proto import onnx_proto

        if self.container.target_opset is not None and self.container.target_opset >= 18:
            axes = self.constant([0], "member_axis", proto=onnx_proto.TensorProto.INT64, dtype=np.int64)
            output = self.scope.get_unique_variable_name("reducemean")
            name = self.scope.get_unique_operator_name("ReduceMean")
            self.container.add_node("ReduceMean", [x, axes], output, name=name, op_version=18, keepdims=0)
            return output
        return self.node("ReduceMean", [x], axes=[0], keepdims=0)


# The opset from which each operator has the semantics used here (numpy
# broadcasting: 7; Max and Min broadcasting: 8; Softmax over one axis: 13;
# ReduceMean's axes an attribute: up to 17).
_OPSETS = {
    "Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Max": 8, "Min": 8, "MatMul": 9, "Exp": 6, "Relu": 6, "Tanh": 6,
    "Sigmoid": 6, "Selu": 6, "Softmax": 13, "ArgMax": 11, "Gather": 11, "Concat": 11, "Cast": 9, "Greater": 9,
    "Identity": 1, "ReduceMean": 13,
}  # fmt: skip


def _activation(graph, x, name):
    """``name`` applied to ``x``: the NumPy inference path's functions (``_activations``), in ONNX operators."""
    if name == "identity":
        return x
    simple = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "exp": "Exp"}
    if name in simple:
        return graph.node(simple[name], [x])
    if name == "softmax":
        return graph.node("Softmax", [x], axis=-1)
    if name == "selu" and graph.dtype == np.float32:
        return graph.node("Selu", [x], alpha=SELU_ALPHA, gamma=SELU_SCALE)  # float attributes: exact in float32
    if name in ("selu", "elu"):
        # max(x, 0) + alpha * (exp(min(x, 0)) - 1), times SELU's scale, with
        # float64 constants: ONNX's Selu and Elu take float32 attributes (SELU's
        # alpha rounded by 1e-8), and ONNX Runtime runs them in float32 only.
        alpha, scale = (SELU_ALPHA, SELU_SCALE) if name == "selu" else (1.0, 1.0)
        zero = graph.constant(0.0, "zero")
        negative = graph.node("Sub", [graph.node("Exp", [graph.node("Min", [x, zero])]), graph.constant(1.0, "one")])
        out = graph.node("Add", [graph.node("Max", [x, zero]), graph.node("Mul", [negative, graph.constant(alpha)])])
        return out if scale == 1.0 else graph.node("Mul", [out, graph.constant(scale, "scale")])
    raise OnnxConversionError(f"The activation {name!r} has no ONNX conversion in sksnn.")


def _embedded(graph, x, embedding):
    """``[x, clip((x[:, feature_index_] - lower_) / width_, 0, 1)]``, as ``PiecewiseLinearEncoding.transform``."""
    from skl2onnx.proto import onnx_proto

    index = graph.constant(
        embedding.feature_index_, "feature_index", proto=onnx_proto.TensorProto.INT64, dtype=np.int64
    )
    components = graph.node("Gather", [x, index], axis=1)
    components = graph.node("Sub", [components, graph.constant(embedding.lower_, "lower")])
    components = graph.node("Div", [components, graph.constant(embedding.width_, "width")])
    components = graph.node("Max", [components, graph.constant(0.0, "zero")])
    components = graph.node("Min", [components, graph.constant(1.0, "one")])
    return graph.node("Concat", [x, components], axis=1)


def _network_output(scope, operator, container):
    """The network's output after its activation, for the operator's input, in the input's type."""
    from skl2onnx.common.data_types import DoubleTensorType

    model = operator.raw_operator
    dtype = np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32
    graph = _Graph(scope, container, dtype)
    x = operator.inputs[0].full_name
    if getattr(model, "embedding_", None) is not None:
        x = _embedded(graph, x, model.embedding_)
    if getattr(model, "scaler_", None) is not None:  # (X - mean) / scale, as _inference.standardize
        x = graph.node("Sub", [x, graph.constant(model.scaler_.mean_, "mean")])
        x = graph.node("Div", [x, graph.constant(model.scaler_.scale_, "scale")])
    last = len(model.coefs_) - 1
    members = model._members()
    for i, (kernel, bias) in enumerate(zip(model.coefs_, model.intercepts_)):
        if members is None:
            x = graph.node("MatMul", [x, graph.constant(kernel, f"coefficient{i}")])
            x = graph.node("Add", [x, graph.constant(bias, f"intercept{i}")])
        else:  # each member's ((x * r) @ W) * s + b, as _inference._dense: (n_members, rows, units)
            x = graph.node("Mul", [x, graph.constant(members[0][i][:, None, :], f"input_scale{i}")])
            x = graph.node("MatMul", [x, graph.constant(kernel, f"coefficient{i}")])
            x = graph.node("Mul", [x, graph.constant(members[1][i][:, None, :], f"output_scale{i}")])
            x = graph.node("Add", [x, graph.constant(bias[:, None, :], f"intercept{i}")])
        x = _activation(graph, x, model.out_activation_ if i == last else model.activation)
    if members is not None:  # the members' mean: the ensemble's prediction
        x = graph.member_mean(x)
    return graph, x


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _label_values(classes, model):
    """Class labels as ONNX holds them: int64 (ints, bools; float labels, which scikit-learn
    classifiers accept only with whole values) or strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biuf":
        return classes.astype(np.int64)
    if classes.dtype.kind == "S":
        classes = classes.astype(str)
    if all(isinstance(c, str) for c in classes.ravel()):
        return classes.astype(object)
    raise OnnxConversionError(
        f"{type(model).__name__} has class labels of type {classes.dtype} ({classes[:3].tolist()}...): "
        "an ONNX label is an int64 or a string; encode the labels before fitting."
    )


def _convert_classifier(scope, operator, container):
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.proto import onnx_proto

    model = operator.raw_operator
    graph, output = _network_output(scope, operator, container)
    label, probabilities = operator.outputs[0].full_name, operator.outputs[1].full_name
    if _is_multilabel(model):  # each label's probability; a label is on above 1/2, as LabelBinarizer's threshold
        graph.node("Identity", [output], probabilities)
        graph.node(
            "Cast",
            [graph.node("Greater", [output, graph.constant(0.5, "half")])],
            label,
            to=onnx_proto.TensorProto.INT64,
        )
        return
    if len(model.classes_) == 1:  # LabelBinarizer's one class: probability 1
        graph.node("Add", [graph.node("Sub", [output, output]), graph.constant(1.0, "one")], probabilities)
    elif model.n_outputs_ == 1:  # binary: the logistic output is the positive class's probability
        negative = graph.node("Sub", [graph.constant(1.0, "one"), output])
        graph.node("Concat", [negative, output], probabilities, axis=1)
    else:
        graph.node("Identity", [output], probabilities)
    classes = _label_values(get_label_classes(scope, model), model)
    proto = onnx_proto.TensorProto.STRING if classes.dtype == object else onnx_proto.TensorProto.INT64
    index = graph.node("ArgMax", [probabilities], axis=1, keepdims=0)  # the first of equal maxima, as NumPy
    graph.node("Gather", [graph.constant(classes, "classes", proto=proto, dtype=classes.dtype), index], label, axis=0)


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    graph, output = _network_output(scope, operator, container)
    scaler = model.target_scaler_
    if scaler is not None:  # predictions in the target's units
        output = graph.node(
            "Add",
            [
                graph.node("Mul", [output, graph.constant(scaler.scale_, "target_scale")]),
                graph.constant(scaler.mean_, "target_mean"),
            ],
        )
    graph.node("Identity", [output], operator.outputs[0].full_name)


register()
