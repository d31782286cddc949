"""SNNRegressor: target scaling, predictions in the original units."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if

from ._base import BaseSNN
from ._persistence import loadable


def _as_matrix(y):
    return y.reshape(-1, 1) if y.ndim == 1 else y


@loadable
class SNNRegressor(RegressorMixin, BaseSNN):
    """Self-normalizing neural network regressor.

    A stack of Dense layers with SELU activation and LeCun-normal weights,
    trained with Keras on standardized inputs (Klambauer et al., 2017) to
    minimize the squared error (or the Poisson deviance). With
    ``standardize=True`` the target is standardized too (not with
    ``loss='poisson'``), and predictions come back in its original units. The
    parameters carry the names and meanings of
    :class:`~sklearn.neural_network.MLPRegressor`.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100, 100)
        The ith element is the number of units in the ith hidden layer.

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
        prediction at the same value (the target's mean), so the hidden layers
        begin to learn from the output's first update on; it does not touch
        the hidden layers' self-normalization. Chosen on the UCI benchmarks'
        validation splits (:doc:`/defaults`); the source article drew it like
        the others (``output_initializer='lecun_normal'``).

    dropout : float in [0, 1), default=0.0
        Rate of the :class:`keras.layers.AlphaDropout` after each hidden layer.
        On the regression collections' validation splits every rate tried
        (0.1-0.2) raised the RMSE on every set (:doc:`/defaults`, round 7).

    standardize : bool, default=True
        Standardize the features (``scaler_``) and the target
        (``target_scaler_``) with StandardScalers fitted on the training data.

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
        Strength of the L2 penalty, with MLPRegressor's scaling. MLP's default
        is 1e-4; 1e-2 was ahead on the UCI benchmarks' validation splits
        (:doc:`/defaults`).

    batch_size : int or 'auto', default='auto'
        Size of minibatches; 'auto' means ``min(200, n_samples)``.

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
        early-stopping split.

    tol : float, default=1e-4
        Tolerance for the optimization (see :class:`SNNClassifier`).

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
        Hold out ``validation_fraction`` of the training data, stop when
        its R^2 stops improving for ``n_iter_no_change`` epochs, and keep the
        best epoch's weights. 'auto' (not in MLP): on when ``fit`` is given
        at least 1,000 rows, off below that, in ``partial_fit`` and for
        'lbfgs'; it watches the validation loss, and with 'nadam', 'adam'
        or 'adamw' trains in cosine cycles of the learning rate: over each
        cycle of 16 epochs the rate falls from twice ``learning_rate_init`` to
        zero, then starts again at the top (warm restarts), and the fit stops
        once a whole cycle (or ``n_iter_no_change`` epochs, if more) passes
        without a lower loss; then, from the best epoch's weights, one more
        cycle of 8 epochs on every row, the validation rows included, gives
        the model (within ``max_iter``). With 'sgd' or 'rmsprop' it goes back to the
        best epoch's weights at the first plateau, divides the learning rate
        by 10 and trains on until 2 epochs in a row miss ``tol``. Chosen on
        validation splits (:doc:`/defaults`). True and False mean what they
        mean for MLP.

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

    learned_input_scale : bool or 'auto', default='auto'
        Learn a factor for each of the network's inputs (X's standardized
        columns and the embedding's components) as it trains (not in MLP;
        RealMLP's scaling layer, Holzmueller et al. 2024): the first layer
        sees ``x * c``, each ``c`` starting at 1 and learning 6 times faster
        than the weights (``c = 6 v``, ``v`` trained), outside the L2
        penalty. The factors end up folded into ``coefs_[0]`` (row ``j``
        times ``c_j``), so the fitted network, its prediction and its export
        are those of an ordinary network; a fit that continues
        (``warm_start``, ``partial_fit``) starts them at 1 again on those
        weights. True needs a minibatch solver. 'auto' learns them from
        1,000 rows given to ``fit`` (or to one ``partial_fit`` call) with a
        minibatch solver (chosen on validation splits, :doc:`/defaults`,
        round 10: lower RMSE on the regression sets of 1,000+ rows).

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

    loss : {'squared_error', 'poisson'}, default='squared_error'
        MLP's losses: half the squared error, or half the Poisson deviance
        with a log link (the output is ``exp`` of the last layer; the target
        must be non-negative and is not standardized). Keyword-only here,
        where it is MLPRegressor's first positional parameter.

    Attributes
    ----------
    loss_ : float
        Mean training loss of the last epoch: half the squared error on the
        standardized target, plus the L2 penalty.

    best_loss_ : float or None
        Lowest training loss reached; None with ``early_stopping``.

    loss_curve_ : list of float
        Training loss of each epoch.

    validation_scores_ : list of float or None
        Validation R^2 of each epoch with ``early_stopping``, else None.

    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the loss on the validation rows after each
        epoch (the training loss's data term, without the L2 penalty), else
        None. Not an MLP attribute (scikit-learn issue #18507 asks for it).
    best_validation_score_ : float or None
        Best validation R^2 with ``early_stopping``, else None.

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

    target_scaler_ : StandardScaler or None
        The fitted target scaler (None when ``standardize=False``).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    n_iter_ : int
        Number of epochs run by the last call to fit or partial_fit.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Output activation: 'identity', or 'exp' with ``loss='poisson'``.

    model_ : keras.Sequential
        The trained network, built on access; its outputs are on the
        standardized target scale.

    See Also
    --------
    SNNClassifier : The classification counterpart.
    sklearn.neural_network.MLPRegressor : The scikit-learn baseline.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sksnn import SNNRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = SNNRegressor(hidden_layer_sizes=(16,), batch_size=32, max_iter=30, random_state=0)
    >>> reg = reg.fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.3)
    True
    """

    _parameter_constraints: dict = {
        **BaseSNN._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
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
        tol=1e-4,
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
        learned_input_scale="auto",
        dtype="auto",
        loss="squared_error",
    ):
        self.loss = loss
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

    # ------------------------------------------------------------------ hooks
    _score_function = staticmethod(r2_score)

    def _fit_target_encoder(self, y, sample_weight, train_rows, classes):
        if self.loss == "poisson":
            # MLP returns a NaN loss for these; a clear error, as PoissonRegressor's
            if (y < 0).any():
                raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
            return None  # counts keep their scale: the log link fits it with the output bias
        if not self.standardize:
            return None
        if train_rows is not None:  # statistics of the rows trained on only
            y, sample_weight = y[train_rows], None if sample_weight is None else sample_weight[train_rows]
        return StandardScaler().fit(_as_matrix(y), sample_weight=sample_weight)

    @property
    def _target_encoder(self):
        return self.target_scaler_

    def _target_attributes(self, encoder):
        return {"target_scaler_": encoder}

    def _encode_targets(self, y, encoder):
        Y = _as_matrix(y)
        return Y if encoder is None else encoder.transform(Y)

    def _check_targets(self, y, incremental, classes):
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")

    def _training_setup(self, encoder):
        return ("poisson", "exp") if self.loss == "poisson" else ("squared_error", "identity")

    def _decode(self, output, encoder):
        if encoder is not None:
            # ``output *= scale`` arithmetic (float32 stays float32), into a new
            # array: the caller's ``output`` (the validation loss's input) is kept.
            output = np.multiply(output, encoder.scale_, out=np.empty_like(output), casting="same_kind")
            np.add(output, encoder.mean_, out=output, casting="same_kind")
        if output.shape[1] == 1:
            output = output.ravel()
        return output

    # ----------------------------------------------------------------- public
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

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
    def partial_fit(self, X, y, sample_weight=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values, in the units of the training target.
        """
        return self._decode(self._forward(X), self.target_scaler_)
