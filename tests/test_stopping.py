import numpy as np

from sksnn._stopping import TrainingProgress, WeightAverage


def test_stops_after_n_iter_no_change_epochs_without_tol_improvement():
    progress = TrainingProgress(tol=0.1, n_iter_no_change=2, early_stopping=False)
    decisions = [progress.update(loss, 10) for loss in [1.0, 0.5, 0.45, 0.44, 0.43]]
    assert decisions == [False, False, False, False, True]
    assert progress.stopped_early and progress.best_loss == 0.43
    assert progress.n_iter == 5 and progress.t == 50
    assert progress.message.startswith("Training loss did not improve") and progress.message.endswith(" Stopping.")


def test_a_plateau_hook_that_keeps_training_starts_the_count_over():
    # MLP's learning_rate='adaptive': trigger_stopping lowers the rate and training goes on.
    answers = iter([(True, " Setting learning rate to 0.000200"), (False, " Learning rate too small. Stopping.")])
    progress = TrainingProgress(tol=0.1, n_iter_no_change=1, early_stopping=False, on_plateau=lambda: next(answers))
    decisions = [progress.update(1.0, 10) for _ in range(5)]
    # epochs 2-3 without improvement: the hook keeps going; 4-5 again: it stops
    assert decisions == [False, False, False, False, True]
    assert progress.no_improvement_count == 2 and progress.stopped_early
    assert progress.message.endswith("Learning rate too small. Stopping.")


def test_early_stopping_tracks_best_score_and_its_weights():
    progress = TrainingProgress(tol=0.0, n_iter_no_change=1, early_stopping=True)
    for score, weights in [(0.5, "w1"), (0.8, "w2"), (0.7, "w3")]:
        assert not progress.update(1.0, 1, score, weights)
    assert progress.update(1.0, 1, 0.6, "w4")
    assert progress.best_validation_score == 0.8 and progress.best_weights == "w2"
    assert progress.validation_scores == [0.5, 0.8, 0.7, 0.6]


def test_non_finite_loss_stops_at_once():
    progress = TrainingProgress(tol=0.0, n_iter_no_change=10, early_stopping=False)
    assert progress.update(np.nan, 1)
    assert progress.diverged


def test_warm_start_continues_the_history():
    previous = {"t_": 30, "loss_curve_": [2.0, 1.0], "best_loss_": 1.0, "_no_improvement_count": 1}
    progress = TrainingProgress(tol=0.0, n_iter_no_change=5, early_stopping=False, previous=previous)
    progress.update(0.9, 10)
    attrs = progress.fitted_attributes()
    assert attrs["loss_curve_"] == [2.0, 1.0, 0.9] and attrs["t_"] == 40 and attrs["n_iter_"] == 1
    assert previous["loss_curve_"] == [2.0, 1.0]  # the old list is not mutated


def test_early_stopping_on_the_validation_loss_keeps_the_lowest_losss_weights():
    progress = TrainingProgress(tol=0.01, n_iter_no_change=1, early_stopping=True, monitor="loss")
    epochs = [(0.50, 0.6, "w1"), (0.40, 0.6, "w2"), (0.395, 0.9, "w3")]  # (loss, score, weights)
    for validation_loss, score, weights in epochs:
        assert not progress.update(1.0, 1, score, weights, validation_loss)
    # w3's loss is the lowest but not by tol: two epochs without improvement stop
    assert progress.update(1.0, 1, 0.5, "w4", 0.45)
    assert progress.best_weights == "w3" and progress.best_validation_score == 0.9
    assert progress.message.startswith("Validation loss did not improve")
    assert progress.validation_losses == [0.5, 0.4, 0.395, 0.45]


def test_the_weight_average_is_an_exponential_moving_average_over_the_horizon_and_keeps_its_best_epoch():
    average = WeightAverage(horizon=4)  # each epoch weighs 1/4 against 3/4 for the average before it
    epochs = [
        ([np.full((2, 3), 4.0), np.ones((3, 1))], [np.zeros(3), np.zeros(1)], None),
        ([np.full((2, 3), 8.0), np.ones((3, 1))], [np.full(3, 4.0), np.zeros(1)], None),
        ([np.zeros((2, 3)), np.ones((3, 1))], [np.zeros(3), np.full(1, 8.0)], None),
    ]
    given = [[[w.copy() for w in part] for part in epoch[:2]] for epoch in epochs]
    averages = []
    for weights, loss in zip(epochs, [0.5, 0.3, 0.4]):
        averages.append(average.update(weights))
        average.record(loss)
    coefs, intercepts, members = averages[0]
    assert coefs[0] is not epochs[0][0][0] and members is None  # the first epoch copied, not held
    np.testing.assert_array_equal(averages[1][0][0], np.full((2, 3), 5.0))  # 0.75 * 4 + 0.25 * 8
    np.testing.assert_array_equal(averages[2][0][0], np.full((2, 3), 3.75))  # 0.75 * 5 + 0.25 * 0
    np.testing.assert_array_equal(averages[2][1][0], np.full(3, 0.75))  # 0.75 * (0.25 * 4)
    np.testing.assert_array_equal(averages[2][1][1], np.full(1, 2.0))
    assert average.best_loss == 0.3 and average.best_weights is averages[1]  # the lowest loss's average
    for epoch, before in zip(epochs, given):  # the epochs' own weights are left as they were
        for part, kept in zip(epoch[:2], before):
            for w, v in zip(part, kept):
                np.testing.assert_array_equal(w, v)


def test_the_weight_average_follows_a_packed_ensembles_member_scales():
    average = WeightAverage(horizon=2)
    scales = ([np.ones((3, 2))], [np.ones((3, 1))])
    average.update(([np.zeros((2, 2))], [np.zeros(2)], scales))
    coefs, intercepts, (inputs, outputs) = average.update(
        ([np.ones((2, 2))], [np.ones(2)], ([np.full((3, 2), 3.0)], [np.full((3, 1), 5.0)]))
    )
    np.testing.assert_array_equal(coefs[0], np.full((2, 2), 0.5))
    np.testing.assert_array_equal(inputs[0], np.full((3, 2), 2.0))
    np.testing.assert_array_equal(outputs[0], np.full((3, 1), 3.0))
