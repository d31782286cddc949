"""Running Keras' own training loop for the estimators.

The estimator decides when to stop (scikit-learn MLP's rules); this module
turns that decision into a Keras callback, seeds everything a fit draws from,
and compiles the network once per fitted estimator.
"""

import contextlib
import random

import keras
import numpy as np

from ._network import OPTIMIZERS, HalfSquaredError, PenalizedNetwork, build_snn

LOSSES = {
    # Outputs are logits: the losses apply sigmoid/softmax themselves, which is
    # numerically safer than differentiating through the activation.
    "binary": lambda: keras.losses.BinaryCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
    "categorical": lambda: keras.losses.CategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
    "squared_error": lambda: HalfSquaredError(reduction="mean_with_sample_weight"),
}


@contextlib.contextmanager
def seeded(seed):
    """Make Keras' batch shuffling follow ``seed``, leaving global RNGs as found.

    Keras shuffles NumPy input with ``tf.random.shuffle`` on TensorFlow and with
    NumPy's global generator on the other backends; both are seeded here.
    Python's and NumPy's global states are restored afterwards, so a fit does not
    change what user code draws next.
    """
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    np.random.seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def make_trainer(spec, *, n_features, n_outputs, loss, optimizer, learning_rate, alpha, dtype, seed):
    """A compiled :class:`PenalizedNetwork` for the architecture in ``spec``.

    ``spec`` holds the keyword arguments of :func:`build_snn` that describe
    the hidden layers; the output layer gives logits (see ``LOSSES``).
    """
    network = build_snn(n_features, n_outputs, output_activation="identity", dtype=dtype, seed=seed, **spec)
    trainer = PenalizedNetwork(network, alpha, dtype=dtype)
    trainer.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=LOSSES[loss](),
        jit_compile="auto",
    )
    return trainer


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's mean training loss to ``on_epoch_end``; stops when it says so."""

    def __init__(self, on_epoch_end):
        super().__init__()
        self._on_epoch_end = on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if self._on_epoch_end(float(logs["loss"])):
            self.model.stop_training = True


def run_epochs(trainer, X, Y, sample_weight, *, epochs, batch_size, shuffle, seed, on_epoch_end):
    """Train ``trainer`` for up to ``epochs`` epochs.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    with seeded(seed):
        try:
            trainer.fit(
                X,
                Y,
                sample_weight=sample_weight,
                batch_size=batch_size,
                epochs=epochs,
                shuffle=shuffle,
                verbose=0,
                callbacks=[_EpochEnd(on_epoch_end)],
            )
        except KeyboardInterrupt:
            return True
    return False
