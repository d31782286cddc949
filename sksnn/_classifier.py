"""SNNClassifier: label encoding, class weights, label smoothing, predict_proba."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels

from ._base import BaseSNN
from ._persistence import loadable


@loadable
class SNNClassifier(ClassifierMixin, BaseSNN):
    """Self-normalizing neural network classifier.

    A stack of Dense layers with SELU activation and LeCun-normal weights,
    trained with Keras on standardized inputs (Klambauer et al., 2017). The
    parameters carry the names and meanings of
    :class:`~sklearn.neural_network.MLPClassifier`, so one parameter grid
    serves both.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100, 100)
        The ith element is the number of units in the ith hidden layer.
        The source article's network is ``(100,) * 20``.

    activation : {'selu', 'elu', 'relu', 'tanh', 'logistic', 'identity'}, default='selu'
        Hidden-layer activation. Self-normalization needs 'selu'.

    kernel_initializer : {'lecun_normal', 'lecun_uniform', 'he_normal', 'he_uniform', \
'glorot_normal', 'glorot_uniform', 'random_normal', 'random_uniform', \
'truncated_normal', 'orthogonal'}, default='lecun_normal'
        Keras initializer of every hidden layer's kernel. Self-normalization
        needs 'lecun_normal' (variance ``1 / fan_in``).

    output_initializer : {'zeros', 'lecun_normal', 'lecun_uniform', 'he_normal', \
'he_uniform', 'glorot_normal', 'glorot_uniform', 'random_normal', \
'random_uniform', 'truncated_normal', 'orthogonal'}, default='zeros'
        Keras initializer of the output layer's kernel. 'zeros' starts every
        prediction at the same value, so the hidden layers begin to learn from
        the output's first update on; it does not touch the hidden layers'
        self-normalization. Chosen on the UCI benchmarks' validation splits
        (:doc:`/defaults`); the source article drew it like the others
        (``output_initializer='lecun_normal'``).

    dropout : float in [0, 1), default=0.0
        Rate of the :class:`keras.layers.AlphaDropout` after each hidden layer.

    standardize : bool, default=True
        Standardize the features with a :class:`~sklearn.preprocessing.StandardScaler`
        fitted on the training data (``scaler_``). Self-normalization assumes
        standardized inputs.

    solver : {'nadam', 'adam', 'sgd', 'lbfgs', 'adamw', 'rmsprop'}, default='nadam'
        The weight optimizer: Keras' Nadam (the source article's choice), Adam,
        SGD, AdamW or RMSprop over minibatches, or full-batch L-BFGS-B
        (scipy's, as MLP runs it; scikit-learn recommends it for small data
        sets; ``max_iter`` counts its iterations, AlphaDropout is not
        applied, ``early_stopping`` and ``partial_fit`` are not available).
        'adam', 'sgd' and 'lbfgs' are MLP's solvers, with MLP's parameters
        (``beta_1``, ``beta_2``, ``epsilon``; ``momentum``,
        ``nesterovs_momentum``, ``learning_rate``; ``max_fun``).

    alpha : float, default=1e-2
        Strength of the L2 penalty, with MLPClassifier's scaling
        (``alpha / 2 * ||W||^2`` divided by the batch's summed sample weight).
        MLP's default is 1e-4; 1e-2 was ahead on the UCI benchmarks'
        validation splits (:doc:`/defaults`).

    batch_size : int or 'auto', default='auto'
        Size of minibatches; 'auto' means ``min(200, n_samples)`` as in MLP.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule of ``solver='sgd'``, applied as MLP applies it:
        'invscaling' sets the rate to ``learning_rate_init / (t + 1) ** power_t``
        after each epoch (``t``: samples seen so far); 'adaptive' divides it
        by 5 each time ``n_iter_no_change`` epochs in a row miss the ``tol``
        improvement, and stops once it is at most 1e-6. The other solvers
        keep ``learning_rate_init``.

    learning_rate_init : float, default=1e-3
        The initial learning rate of the solver.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule (``solver='sgd'``).

    max_iter : int, default=200
        Maximum number of epochs.

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, dropout, batch shuffling and the
        early-stopping split. Pass an int for reproducible results.

    tol : float, default=3e-4
        Tolerance for the optimization: training stops when the loss (or the
        validation score, with ``early_stopping``) does not improve by at
        least ``tol`` for ``n_iter_no_change`` consecutive epochs. 3e-4,
        not MLP's 1e-4: with ``label_smoothing`` the loss keeps falling by
        small steps towards its floor, and 1e-4 trained longer for the same
        accuracy (digits: 187 epochs instead of 111; :doc:`/defaults`).

    verbose : bool or int >= 0, default=False
        ``True`` or ``1``: print one line per epoch as MLP does
        (``Iteration 3, loss = ...``, plus the validation score with early
        stopping). ``2`` or more: also Keras' live progress bar through each epoch
        (terminal or notebook; it moves once per call into the backend,
        which trains up to 32 batches). Silent by default.

    warm_start : bool, default=False
        Continue from the weights of the previous fit.

    momentum : float in [0, 1], default=0.9
        Momentum of ``solver='sgd'``.

    nesterovs_momentum : bool, default=True
        Whether ``solver='sgd'`` uses Nesterov's momentum.

    early_stopping : bool or 'auto', default='auto'
        Hold out ``validation_fraction`` of the training data (stratified), stop when
        its accuracy stops improving for ``n_iter_no_change`` epochs, and keep the
        best epoch's weights. 'auto' (not in MLP): on when ``fit`` is given
        at least 1,000 rows, off below that, in ``partial_fit`` and for
        'lbfgs'; it stops on the held-out rows' log loss and keeps the best
        epoch of a moving average of the epochs' weights (over about 4
        epochs); chosen on validation splits (:doc:`/defaults`). True and
        False mean what they mean for MLP.

    validation_fraction : float in [0, 1), default=0.1
        Proportion of training data held out for early stopping; used only
        with ``early_stopping=True``, where too few rows is an error.

    beta_1 : float in [0, 1), default=0.9
        Decay rate of the first-moment estimates of 'nadam', 'adam' and 'adamw'.

    beta_2 : float in [0, 1), default=0.999
        Decay rate of their second-moment estimates.

    epsilon : float, default=1e-8
        Numerical-stability term of 'nadam', 'adam', 'adamw' and 'rmsprop'
        (MLP's value; Keras' own default is 1e-7).

    n_iter_no_change : int, default=10
        Number of epochs without ``tol`` improvement before stopping.

    max_fun : int, default=15000
        Most evaluations of the loss by ``solver='lbfgs'``.

    numerical_embedding : {'auto', 'piecewise_linear'} or None, default='auto'
        Numerical feature embeddings (not in MLP): 'piecewise_linear' adds,
        for each feature, its piecewise-linear encoding over up to ``n_bins``
        quantile bins of the training rows (Gorishniy et al., 2022) to the
        network's input, beside the feature itself (``embedding_``; the
        scaler standardizes both). A feature with fewer than three distinct
        bin edges (binary, constant) adds nothing. 'auto' encodes a dense X
        of at least 1,000 rows (chosen on validation splits,
        :doc:`/defaults`); None never encodes. The bins are fixed by the
        first fit (``partial_fit``: its first call).

    n_bins : int >= 2, default=16
        Most quantile bins per feature of ``numerical_embedding``.

    n_members : int >= 1, default=1
        Members of a packed ensemble inside the one network (not in MLP;
        BatchEnsemble as in TabM, Gorishniy et al. 2024): the members share
        every kernel, and member ``i`` has its own scale of each layer's
        inputs and outputs and its own bias, ``((h * r_i) @ W) * s_i + b_i``.
        Training minimizes the mean of the members' losses; predictions
        average the members' outputs (probabilities, values). A fit costs
        about ``n_members`` times the work of one network. 1 trains one
        network; ``solver='lbfgs'`` needs 1.

    learned_input_scale : bool or 'auto', default=False
        Learn a factor for each of the network's inputs (X's standardized
        columns and the embedding's components) as it trains (not in MLP;
        RealMLP's scaling layer, Holzmueller et al. 2024): the first layer
        sees ``x * c``, each ``c`` starting at 1 and learning 6 times faster
        than the weights (``c = 6 v``, ``v`` trained), outside the L2
        penalty. The factors end up folded into ``coefs_[0]`` (row ``j``
        times ``c_j``), so the fitted network, its prediction and its export
        are those of an ordinary network; a fit that continues
        (``warm_start``, ``partial_fit``) starts them at 1 again on those
        weights. True needs a minibatch solver. 'auto' learns them in
        regression only (:class:`SNNRegressor`; round 10 of
        :doc:`/defaults`: level in classification), so here it is False.

    dtype : {'auto', 'float32', 'float64'} or None, default='auto'
        The floating-point type the network trains in with a minibatch
        solver (not in MLP, which trains in X's dtype): 'auto' trains in
        float32 from 1,000 rows given to ``fit`` (or to one ``partial_fit``
        call; chosen on validation splits,
        :doc:`/defaults`: the same scores in 0.55-0.77x the time; a CPU
        runs float64 steps slower), in X's dtype below; None
        always in X's dtype (float32 or float64), as MLP. Each chunk of
        batches is cast to it; X itself is not copied. Fitted attributes
        and predictions are in X's dtype whatever the network trained in.
        In float32, weighted rows and their repetition train to the same
        model up to float32's rounding, not to 1e-7. 'lbfgs' trains in X's
        dtype.

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.

    label_smoothing : float in [0, 1), default=0.1
        Trains against labels moved this far towards uniform: a class's
        target is ``1 - label_smoothing + label_smoothing / n_classes``
        instead of 1, each other class's ``label_smoothing / n_classes``
        (each label of a binary or multilabel target: towards 1/2), as Keras'
        ``CategoricalCrossentropy(label_smoothing=...)``. It keeps the
        network from driving the training rows' probabilities to 0 and 1;
        0.1 was ahead of 0 on the UCI benchmark's validation splits
        (:doc:`/defaults`). 0 trains on MLP's loss; ``loss_`` is the loss
        against the smoothed labels.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    loss_ : float
        Mean training loss of the last epoch (with the L2 penalty).

    best_loss_ : float or None
        Lowest training loss reached; None with ``early_stopping``.

    loss_curve_ : list of float
        Training loss of each epoch.

    validation_scores_ : list of float or None
        Validation accuracy of each epoch with ``early_stopping``, else None.

    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the loss on the validation rows after each
        epoch (the training loss's data term, without the L2 penalty), else
        None. Not an MLP attribute (scikit-learn issue #18507 asks for it).
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.

    t_ : int
        Number of training samples seen by the solver.

    coefs_ : list of ndarray
        Kernel of each Dense layer, input to output. The first has one row
        per input column of the network: ``n_features_in_`` plus, with a
        numerical embedding, its components.

    intercepts_ : list of ndarray
        Bias of each Dense layer, input to output: of shape ``(units,)``, or
        ``(n_members, units)`` for a packed ensemble.

    member_input_scales_, member_output_scales_ : list of ndarray or None
        A packed ensemble's (``n_members > 1``) scales of each layer's
        inputs, shaped ``(n_members, inputs)``, and outputs,
        ``(n_members, units)``, input to output; None for one network.

    scaler_ : StandardScaler or None
        The fitted feature scaler (None when ``standardize=False``), of the
        network's input columns (X's, then ``embedding_``'s components).

    embedding_ : PiecewiseLinearEncoding or None
        The fitted numerical embedding (None when ``numerical_embedding``
        did not encode): ``feature_index_``, ``lower_`` and ``width_`` of
        each component, ``clip((x[feature_index_] - lower_) / width_, 0, 1)``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    n_iter_ : int
        Number of epochs run by the last call to fit or partial_fit.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of output units.

    out_activation_ : str
        Output activation: 'logistic' (binary, multilabel) or 'softmax'.

    model_ : keras.Sequential
        The trained network, built on access (see :attr:`BaseSNN.model_`).

    See Also
    --------
    SNNRegressor : The regression counterpart.
    sklearn.neural_network.MLPClassifier : The scikit-learn baseline.

    Notes
    -----
    Predictions are computed with NumPy from ``coefs_`` and ``intercepts_``;
    no Keras backend is imported to predict.

    References
    ----------
    Klambauer, G., Unterthiner, T., Mayr, A. and Hochreiter, S. (2017).
    Self-Normalizing Neural Networks. NeurIPS 30.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksnn import SNNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SNNClassifier(hidden_layer_sizes=(16, 16), batch_size=16, max_iter=30, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        **BaseSNN._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100, 100),
        activation="selu",
        *,
        kernel_initializer="lecun_normal",
        output_initializer="zeros",
        dropout=0.0,
        standardize=True,
        solver="nadam",
        alpha=1e-2,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=3e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping="auto",
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        numerical_embedding="auto",
        n_bins=16,
        n_members=1,
        learned_input_scale=False,
        dtype="auto",
        class_weight=None,
        label_smoothing=0.1,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            kernel_initializer=kernel_initializer,
            output_initializer=output_initializer,
            dropout=dropout,
            standardize=standardize,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            numerical_embedding=numerical_embedding,
            n_bins=n_bins,
            n_members=n_members,
            learned_input_scale=learned_input_scale,
            dtype=dtype,
        )
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    # ------------------------------------------------------------------ hooks
    _score_function = staticmethod(accuracy_score)

    def _fit_target_encoder(self, y, sample_weight, train_rows, classes):
        encoder = LabelBinarizer()
        if classes is None or type_of_target(y).startswith("multilabel"):
            return encoder.fit(y)  # every label of y, validation rows included
        encoder.fit(classes)  # partial_fit's first call: all the classes to come
        labels = unique_labels(y)
        if len(np.setdiff1d(labels, encoder.classes_)):  # MLP's check and message
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has {encoder.classes_}. 'y' has {labels}."
            )
        return encoder

    @property
    def _target_encoder(self):
        return self._label_binarizer

    def _target_attributes(self, encoder):
        return {"_label_binarizer": encoder, "classes_": encoder.classes_}

    def _check_targets(self, y, incremental, classes):
        if incremental:
            _check_partial_fit_first_call(self, classes)  # classes_ is set: this only compares
        labels = unique_labels(y)
        if self.warm_start:
            if set(labels) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same "
                    "classes as in the previous call to fit. Previously "
                    f"got {self.classes_}, `y` has {labels}"
                )
        elif len(np.setdiff1d(labels, self.classes_, assume_unique=True)):
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {labels}."
            )

    def _training_sample_weight(self, y, sample_weight, encoder):
        if self.class_weight is None:
            return sample_weight
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(encoder.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names labels not in the data: {sorted(map(str, unknown))}.")
        weights = compute_sample_weight(self.class_weight, y).astype(np.float64)
        return weights if sample_weight is None else sample_weight * weights

    def _encode_targets(self, y, encoder):
        return encoder.transform(y)

    def _training_targets(self, y, encoder):
        Y = super()._training_targets(y, encoder)
        if not self.label_smoothing:
            return Y
        n_classes = Y.shape[1] if encoder.y_type_ == "multiclass" else 2  # softmax, or each label's sigmoid
        return Y * (1 - self.label_smoothing) + self.label_smoothing / n_classes

    def _training_setup(self, encoder):
        if encoder.y_type_ == "multiclass":
            return "categorical", "softmax"
        return "binary", "logistic"

    def _decode(self, output, encoder):
        if output.shape[1] == 1 and encoder.y_type_ != "multilabel-indicator":
            output = output.ravel()
        return encoder.inverse_transform(output)

    # ----------------------------------------------------------------- public
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target labels; a 2-D indicator matrix means multilabel.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; a weight of 2 counts like a repeated row.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            All the classes that may appear in any call; required on the
            first call, ignored afterwards.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """Predict using the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        return self._decode(self._forward(X), self._label_binarizer)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; for
            multilabel targets, the probability of each label.
        """
        proba = self._forward(X)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return proba
        if len(self.classes_) == 1:
            return np.ones((proba.shape[0], 1), dtype=proba.dtype)
        if self.n_outputs_ == 1:
            proba = proba.ravel()
            return np.column_stack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of the probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``np.log(predict_proba(X))``.
        """
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
