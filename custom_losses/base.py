"""The one base of every loss class: a per-sample function plus Keras's reduction.

The reduction lives in one place, ``keras.losses.Loss.__call__`` (it casts, applies masks and
sample weights, reduces); a class only names its function and options. Each family module
defines its classes next to its functions: with :func:`loss_class` where the class has no
option of its own, by hand (a subclass of :class:`LossFunction`) where it has.

Differences from ``keras.losses`` (3.15.1), all deliberate:

- ``get_config()`` holds every constructor argument (Keras drops Huber's ``delta``,
  CosineSimilarity's and SparseCategoricalCrossentropy's ``axis``, and every ``dtype``).
- A float16/bfloat16 loss (``dtype="float16"``, or floatx float16) computes *and reduces* in
  float32 and casts the result, so it stays finite where Keras returns inf or NaN.
- Registered as serializable under the package ``custom_losses``: a model compiled with any of
  them saves to ``.keras`` and loads back without ``custom_objects``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import keras
from keras import ops

from custom_losses._common import (
    TensorLike,
    check_axes,
    check_delta,
    check_label_smoothing,
    check_not_none,
    check_q,
    compute_dtype,
)

#: Registers a class (or function) for ``.keras`` files under the package "custom_losses".
SERIALIZABLE = keras.saving.register_keras_serializable(package="custom_losses")
#: Keras's default reduction: the mean over the batch (and over the weights' count).
MEAN = "sum_over_batch_size"
#: The check of each option (by its name) when a class is made: raises ValueError naming a bad
#: value, returns the value as the function takes it (a JSON config's list axis as a tuple).
CHECKS: dict[str, Callable[[Any], Any]] = {
    "axis": check_axes,
    "delta": check_delta,
    "label_smoothing": check_label_smoothing,
    "q": check_q,
}
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


class LossFunction(keras.losses.Loss):
    """A loss class around a per-sample loss function ``fn(y_true, y_pred, **options)``.

    Each option is also a public attribute (``loss.from_logits``, ``loss.delta``, ...), as on
    the Keras classes, and ``_fn_kwargs`` (the name of ``keras.losses.LossFunctionWrapper``).

    Args:
        fn: the per-sample loss function.
        reduction: as in ``keras.losses.Loss``: "sum_over_batch_size", "sum", "mean",
            "mean_with_sample_weight", "none" or None.
        name: the loss name.
        dtype: the result dtype (None means ``keras.backend.floatx()``).
        **options: keyword arguments of ``fn``; all of them go into ``get_config()``.
    """

    def __init__(
        self,
        fn: Callable[..., TensorLike],
        reduction: str | None = MEAN,
        name: str | None = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = options
        for option, value in options.items():
            setattr(self, option, value)
        self._dtype_argument = dtype
        self._float32_loss = None
        if compute_dtype(self.dtype) != self.dtype:
            # half precision: the same loss reduced in float32 (_common.compute_dtype, the one
            # rule for functions and classes); a float16 sum over the batch overflows at 65504
            self._float32_loss = LossFunction(
                fn, reduction, name, compute_dtype(self.dtype), **options
            )

    def call(self, y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike = None
    ) -> TensorLike:
        check_not_none(y_true, y_pred)  # before Loss.__call__'s error, which names neither
        if self._float32_loss is None:
            return super().__call__(y_true, y_pred, sample_weight)
        return ops.cast(self._float32_loss(y_true, y_pred, sample_weight), self.dtype)

    def get_config(self) -> dict[str, Any]:
        dtype = self._dtype_argument
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.get(dtype).name  # a DTypePolicy: keep its name
        return {"name": self.name, "reduction": self.reduction, "dtype": dtype, **self._fn_kwargs}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


def loss_class(
    fn: Callable[..., TensorLike],
    class_name: str,
    *,
    name: str | None = None,
    reduction: str = MEAN,
    order: tuple[str, ...] | None = None,
    defaults: dict[str, Any] | None = None,
    checks: dict[str, Callable[[Any], Any]] | None = None,
    base: type = None,
    example: str = "",
) -> type:
    """The serializable Keras class ``class_name`` of the per-sample function ``fn``.

    Its constructor takes ``fn``'s options (with their defaults), then ``reduction``, ``name``
    and ``dtype``, then ``fn``'s keyword-only options: the signature of Keras's classes. Each
    option is checked when the loss is made, by :data:`CHECKS` (or ``checks``) for its name.
    Assign the class to ``class_name`` in ``fn``'s module: it lives there (pickle finds it).

    Args:
        fn: the per-sample loss function.
        class_name: the class's name (as in ``keras.losses``).
        name: the default loss name. Defaults to ``fn``'s name.
        reduction: the default reduction. Defaults to Keras's, "sum_over_batch_size".
        order: the constructor's arguments in Keras's order, where it is not the default one.
        defaults: defaults that differ from ``fn``'s.
        checks: checks of options by name, over :data:`CHECKS`.
        base: the base class. Defaults to :class:`LossFunction`.
        example: a doctest for the class docstring.

    Example:
        >>> from custom_losses.regression import Huber
        >>> list(inspect.signature(Huber).parameters), Huber().name, Huber.__module__
        (['delta', 'reduction', 'name', 'dtype'], 'huber_loss', 'custom_losses.regression')
    """
    defaults = {
        "reduction": reduction,
        "name": name or fn.__name__,
        "dtype": None,
        **(defaults or {}),
    }
    options = list(inspect.signature(fn).parameters.values())[2:]
    own = [
        inspect.Parameter(k, _POSITIONAL, default=defaults[k])
        for k in ("reduction", "name", "dtype")
    ]
    keyword_only = [p for p in options if p.kind is inspect.Parameter.KEYWORD_ONLY]
    parameters = {p.name: p for p in options if p.kind is _POSITIONAL}
    parameters = (
        [*parameters.values(), *own]
        if order is None
        else [{**parameters, **{p.name: p for p in own}}[k] for k in order]
    )
    parameters = [p.replace(default=defaults.get(p.name, p.default)) for p in parameters]
    signature = inspect.Signature([*parameters, *keyword_only])
    checks = {**CHECKS, **(checks or {})}

    def __init__(self: LossFunction, *args: Any, **kwargs: Any) -> None:
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        options = dict(arguments.arguments)
        reduction, name, dtype = (options.pop(k) for k in ("reduction", "name", "dtype"))
        options = {k: checks[k](v) if k in checks else v for k, v in options.items()}
        LossFunction.__init__(self, fn, reduction, name, dtype, **options)

    __init__.__signature__ = signature.replace(
        parameters=[inspect.Parameter("self", _POSITIONAL), *signature.parameters.values()]
    )
    summary = (fn.__doc__ or "").strip().splitlines()[0]
    namespace = {
        "__init__": __init__,
        "__module__": fn.__module__,
        "__qualname__": class_name,
        "__doc__": f"{summary} The class of :func:`custom_losses.{fn.__name__}`.\n{example}",
    }
    return SERIALIZABLE(type(class_name, (base or LossFunction,), namespace))
