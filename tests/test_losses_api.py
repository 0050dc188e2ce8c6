"""custom_losses as a drop-in for keras.losses: names, signatures, get(), configs, save/load,
and training with model.compile to the same weights as the Keras built-ins."""

import functools
import inspect

import keras
import numpy as np
import pytest

import custom_losses
from keras_lab.data import lecture_data
from keras_lab.models import sine_fit_model
from tests.loss_cases import KERAS_CLASSES, KERAS_FUNCTIONS, LECTURE_CLASSES, LECTURE_FUNCTIONS

# asserts a behaviour of keras 3.15.1 measured when this was written (pyproject allows >=3.12,<4)
keras_3_15_1 = pytest.mark.skipif(
    keras.__version__ != "3.15.1", reason="asserts a measured keras 3.15.1 behaviour"
)

FUNCTIONS = KERAS_FUNCTIONS
CLASSES = KERAS_CLASSES
EXTRA_FUNCTIONS, EXTRA_CLASSES = LECTURE_FUNCTIONS, LECTURE_CLASSES


# --- names and signatures ----------------------------------------------------------------------


# keyword-only options Keras lacks (a call written for Keras never passes them)
OUR_KEYWORD_ONLY = {"log_cosh": {"accurate": False}, "LogCosh": {"accurate": False}}


@pytest.mark.parametrize("name", FUNCTIONS + CLASSES)
def test_same_signature_as_keras(name):
    ours = inspect.signature(getattr(custom_losses, name)).parameters.values()
    theirs = inspect.signature(getattr(keras.losses, name)).parameters.values()
    as_pairs = lambda ps: [(p.name, p.default) for p in ps]  # noqa: E731
    extra = [p for p in ours if p.name not in {q.name for q in theirs}]
    assert as_pairs([p for p in ours if p not in extra]) == as_pairs(theirs)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra)
    assert dict(as_pairs(extra)) == OUR_KEYWORD_ONLY.get(name, {})


def test_public_api_is_explicit():
    for name in FUNCTIONS + CLASSES + EXTRA_FUNCTIONS + EXTRA_CLASSES + ["get", "LOSS_NAMES"]:
        assert name in custom_losses.__all__
    assert all(hasattr(custom_losses, name) for name in custom_losses.__all__)
    for name in CLASSES + EXTRA_CLASSES:
        assert issubclass(getattr(custom_losses, name), keras.losses.Loss)


# --- get() ---------------------------------------------------------------------------------------

# the lecture's abbreviations and Keras's names for the same losses (lecture slide "Keras loss
# functions" lists logcosh, huber_loss, kullback_leibler_divergence, cosine_proximity)
ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "rmse": "root_mean_squared_error",
    "sse": "sum_squared_error",
    "logcosh": "log_cosh",
    "log_cosh": "log_cosh",
    "huber": "huber",
    "huber_loss": "huber",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",
}


@pytest.mark.parametrize("alias, function_name", ALIASES.items())
def test_get_alias_returns_the_function(alias, function_name):
    assert custom_losses.get(alias) is getattr(custom_losses, function_name)
    assert alias in custom_losses.LOSS_NAMES


@pytest.mark.parametrize("name", FUNCTIONS + EXTRA_FUNCTIONS)
def test_get_function_name_returns_the_function(name):
    assert custom_losses.get(name) is getattr(custom_losses, name)


@pytest.mark.parametrize("name", CLASSES + EXTRA_CLASSES)
def test_get_class_name_returns_a_default_instance(name):
    loss = custom_losses.get(name)
    assert type(loss) is getattr(custom_losses, name)
    assert loss.get_config() == getattr(custom_losses, name)().get_config()


@pytest.mark.parametrize("bad", ["msee", "", "Mse "])
def test_get_unknown_name_raises_listing_valid_names(bad):
    with pytest.raises(ValueError, match=r"unknown loss name .*valid names: .*huber_loss"):
        custom_losses.get(bad)


@pytest.mark.parametrize("bad", [3, ["mse"]])
def test_get_uninterpretable_identifier_raises_naming_it(bad):
    # keras.losses.get (3.15.1) raises ValueError "Could not interpret loss identifier: 3"
    with pytest.raises(ValueError, match=r"could not interpret loss identifier"):
        custom_losses.get(bad)


def test_loss_names_cover_functions_classes_and_aliases():
    names = set(custom_losses.LOSS_NAMES)
    assert set(FUNCTIONS + CLASSES + EXTRA_FUNCTIONS + EXTRA_CLASSES + list(ALIASES)) <= names
    assert all(callable(custom_losses.get(name)) for name in names)


# --- get_config / from_config ---------------------------------------------------------------

# non-default values for every constructor argument (arbitrary, chosen to differ from defaults)
NON_DEFAULT = {
    "delta": 0.25,
    "from_logits": True,
    "label_smoothing": 0.1,
    "axis": 1,
    "ignore_class": -1,
    "reduction": "sum",
    "name": "my_loss",
    "dtype": "float64",
    "accurate": True,
}


@pytest.mark.parametrize("name", CLASSES + EXTRA_CLASSES)
def test_config_holds_every_constructor_argument(name):
    cls = getattr(custom_losses, name)
    arguments = {p: NON_DEFAULT[p] for p in inspect.signature(cls).parameters}
    loss = cls(**arguments)
    assert loss.get_config() == arguments
    assert cls.from_config(loss.get_config()).get_config() == arguments


@keras_3_15_1
def test_keras_drops_huber_delta_and_cosine_axis_but_we_keep_them():
    # the reason for our get_config (keras 3.15.1 behaviour)
    assert "delta" not in keras.losses.Huber(delta=0.25).get_config()
    assert "axis" not in keras.losses.CosineSimilarity(axis=1).get_config()
    assert custom_losses.Huber(delta=0.25).get_config()["delta"] == 0.25
    assert custom_losses.CosineSimilarity(axis=1).get_config()["axis"] == 1


def test_dtype_policy_is_saved_by_name():
    loss = custom_losses.MeanSquaredError(dtype=keras.DTypePolicy("mixed_bfloat16"))
    assert loss.get_config()["dtype"] == "mixed_bfloat16"
    assert custom_losses.MeanSquaredError.from_config(loss.get_config()).dtype == "bfloat16"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: custom_losses.Huber(delta=-1.0), r"delta must be >= 0, got -1.0"),
        (lambda: custom_losses.BinaryCrossentropy(label_smoothing="0.1"), r"got '0.1'"),
        (lambda: custom_losses.CategoricalCrossentropy(axis=True), r"axis must be an int"),
        (lambda: custom_losses.MeanSquaredError(reduction="avg"), r"reduction=avg"),
    ],
)
def test_bad_constructor_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- save / load -----------------------------------------------------------------------------

X2 = np.random.default_rng(0).uniform(-1, 1, (12, 2))  # classification inputs (numpy, seeded)
LABELS = np.arange(12) % 3  # three classes, balanced
BINARY = (np.arange(12) % 2).astype(float)


def _problem(name):
    """(model head activation, units, targets) suitable for the loss class ``name``."""
    if name in ("SparseCategoricalCrossentropy",):
        return "softmax", 3, LABELS
    if name in ("CategoricalCrossentropy", "KLDivergence", "CategoricalHinge"):
        return "softmax", 3, np.eye(3)[LABELS]
    if name in ("BinaryCrossentropy", "Hinge", "SquaredHinge"):
        return "sigmoid", 1, BINARY[:, None]
    if name in ("Poisson", "MeanSquaredLogarithmicError"):
        return "softplus", 1, np.abs(X2[:, :1]) * 3
    return "linear", 2 if name == "CosineSimilarity" else 1, X2 * 2.0 + 1.0


def _model(activation, units, seed=0, dtype="float64"):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((2,), dtype=dtype),
            keras.layers.Dense(4, activation="sigmoid", dtype=dtype),
            keras.layers.Dense(units, activation=activation, dtype=dtype),
        ]
    )


SAVE_OPTIONS = {
    "Huber": {"delta": 0.25},
    "CosineSimilarity": {"axis": -1},
    "LogCosh": {"accurate": True},
}


@pytest.mark.parametrize("name", CLASSES + EXTRA_CLASSES)
def test_save_and_load_without_custom_objects(name, tmp_path):
    activation, units, y = _problem(name)
    loss = getattr(custom_losses, name)(reduction="sum", **SAVE_OPTIONS.get(name, {}))
    model = _model(activation, units)
    model.compile(optimizer="sgd", loss=loss)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: registration does it
    assert type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()
    predictions, loaded_predictions = model(X2), loaded(X2)
    np.testing.assert_array_equal(predictions, loaded_predictions)
    np.testing.assert_array_equal(loss(y, predictions), loaded.loss(y, loaded_predictions))


@keras_3_15_1
def test_keras_loses_huber_delta_on_save_but_ours_keeps_it(tmp_path):
    for module in (keras.losses, custom_losses):
        model = _model("linear", 1)
        model.compile(optimizer="sgd", loss=module.Huber(delta=0.25))
        model.save(tmp_path / "huber.keras")
        delta = keras.saving.load_model(tmp_path / "huber.keras").loss.get_config().get("delta")
        assert delta == (0.25 if module is custom_losses else None)  # keras 3.15.1: dropped


@pytest.mark.parametrize("name", ["huber", "log_cosh", "sum_squared_error"])
def test_model_compiled_with_a_function_saves_and_loads(name, tmp_path):
    model = _model("linear", 1)
    model.compile(optimizer="sgd", loss=getattr(custom_losses, name))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    y = X2[:, :1] * 2.0
    np.testing.assert_array_equal(
        loaded.loss(y, loaded(X2)), keras.losses.get(model.loss)(y, model(X2))
    )


# --- training: same weights as the Keras built-in -----------------------------------------------

NUM_EPOCHS = 20  # the acceptance: 20 epochs, tolerance 1e-6
WEIGHT_RTOL = 1e-6  # the tolerance
# weights are O(0.1-1); a bias that stays near 0 (4e-5 seen) is compared at that scale, not its own
WEIGHT_ATOL = 1e-9
LEARNING_RATE = 0.1  # the lecture's alpha in the worked example
# Every loss is trained both as a class, model.compile(loss=custom_losses.X(...)), and as a plain
# function, model.compile(loss=custom_losses.x) (SSE and RMSE in their own tests below).


def _train(model, loss, x, y, learning_rate=LEARNING_RATE):
    """Full-batch gradient descent for NUM_EPOCHS epochs through model.compile/fit.

    The data are tiled NUM_EPOCHS times and fit for one epoch with batch_size = len(x) and
    shuffle=False: the same NUM_EPOCHS full-batch steps as epochs=NUM_EPOCHS (checked: identical
    weights), but one compiled call instead of twenty (0.45 s instead of 2 s per fit).
    """
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), loss=loss, steps_per_execution=NUM_EPOCHS
    )
    model.fit(
        np.tile(x, (NUM_EPOCHS, 1)),
        np.tile(y, (NUM_EPOCHS,) + (1,) * (y.ndim - 1)),
        batch_size=len(x),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    return model.get_weights()


def _assert_same_weights(ours, theirs):
    for w_ours, w_theirs in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(w_ours, w_theirs, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)


def _moved(weights, start):
    return max(np.max(np.abs(w - w0)) for w, w0 in zip(weights, start))


def _sine_fit():
    return sine_fit_model(init="lecture", dtype="float64")


SINE_FIT = [  # (class, function or None, options) on the lecture's 1-2-1 regression network
    ("MeanSquaredError", "mean_squared_error", {}),
    ("MeanAbsoluteError", "mean_absolute_error", {}),
    ("MeanAbsolutePercentageError", "mean_absolute_percentage_error", {}),
    ("LogCosh", "log_cosh", {}),
    ("Huber", "huber", {"delta": 0.5}),
]


@pytest.mark.parametrize("class_name, function_name, options", SINE_FIT)
def test_sine_fit_trains_to_keras_weights(class_name, function_name, options):
    x, y = lecture_data("float64")
    # dtype="float64": the loss computes in the model's precision (the default is floatx, float32)
    theirs = _train(
        _sine_fit(), getattr(keras.losses, class_name)(**options, dtype="float64"), x, y
    )
    assert _moved(theirs, _sine_fit().get_weights()) > 1e-3  # training really moved the weights
    ours = _train(_sine_fit(), getattr(custom_losses, class_name)(**options, dtype="float64"), x, y)
    _assert_same_weights(ours, theirs)
    if function_name is not None:
        our_fn, keras_fn = (
            getattr(custom_losses, function_name),
            getattr(keras.losses, function_name),
        )
        if options:
            our_fn = functools.partial(our_fn, **options)
            keras_fn = functools.partial(keras_fn, **options)
        _assert_same_weights(_train(_sine_fit(), our_fn, x, y), _train(_sine_fit(), keras_fn, x, y))


def test_sine_fit_sse_is_mse_with_a_learning_rate_times_n():
    # SSE summed over the 9 points = 9 * MSE, so SGD(eta) on SSE = SGD(9 eta) on MSE
    x, y = lecture_data("float64")
    theirs = _train(_sine_fit(), keras.losses.MeanSquaredError(dtype="float64"), x, y, 0.09)
    ours = _train(_sine_fit(), custom_losses.SumSquaredError(dtype="float64"), x, y, 0.01)
    _assert_same_weights(ours, theirs)
    # the plain function with Keras's default reduction (mean over the batch): 1 * k * MSE, k = 1
    ours = _train(_sine_fit(), custom_losses.sum_squared_error, x, y, 0.09)
    _assert_same_weights(ours, _train(_sine_fit(), keras.losses.mean_squared_error, x, y, 0.09))


def test_sine_fit_rmse_function_is_mae_for_one_output():
    # one output per sample: sqrt(mean(e^2)) over one element is |e|, so it trains as MAE
    x, y = lecture_data("float64")
    ours = _train(_sine_fit(), custom_losses.root_mean_squared_error, x, y)
    theirs = _train(_sine_fit(), keras.losses.mean_absolute_error, x, y)
    _assert_same_weights(ours, theirs)


def test_sine_fit_rmse_class_trains_as_sqrt_of_keras_mse():
    x, y = lecture_data("float64")
    mse = keras.losses.MeanSquaredError(dtype="float64")
    keras_rmse = lambda t, p: keras.ops.sqrt(mse(t, p))  # noqa: E731
    ours = _train(_sine_fit(), custom_losses.RootMeanSquaredError(dtype="float64"), x, y)
    _assert_same_weights(ours, _train(_sine_fit(), keras_rmse, x, y))


CLASSIFIERS = [  # (class, function or None, options) on the 2-4-k network built above
    ("BinaryCrossentropy", "binary_crossentropy", {}),
    ("BinaryCrossentropy", "binary_crossentropy", {"label_smoothing": 0.1}),
    ("CategoricalCrossentropy", "categorical_crossentropy", {}),
    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", {}),
    ("Hinge", "hinge", {}),
    ("SquaredHinge", "squared_hinge", {}),
    ("CategoricalHinge", "categorical_hinge", {}),
    ("KLDivergence", "kl_divergence", {}),
    ("Poisson", "poisson", {}),
    ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", {}),
    ("CosineSimilarity", "cosine_similarity", {}),
]


@pytest.mark.parametrize("class_name, function_name, options", CLASSIFIERS)
def test_classifier_trains_to_keras_weights(class_name, function_name, options):
    activation, units, y = _problem(class_name)
    theirs = _train(
        _model(activation, units),
        getattr(keras.losses, class_name)(**options, dtype="float64"),
        X2,
        y,
    )
    assert _moved(theirs, _model(activation, units).get_weights()) > 1e-4  # training moved them
    ours = _train(
        _model(activation, units),
        getattr(custom_losses, class_name)(**options, dtype="float64"),
        X2,
        y,
    )
    _assert_same_weights(ours, theirs)
    if function_name is not None:
        our_fn = functools.partial(getattr(custom_losses, function_name), **options)
        keras_fn = functools.partial(getattr(keras.losses, function_name), **options)
        ours_fn = _train(_model(activation, units), our_fn, X2, y)
        theirs_fn = _train(_model(activation, units), keras_fn, X2, y)
        assert _moved(theirs_fn, _model(activation, units).get_weights()) > 1e-4
        _assert_same_weights(ours_fn, theirs_fn)
