"""``Loss``, ``serialize`` and ``deserialize``, as ``keras.losses`` exposes them.

``Loss`` is ``keras.losses.Loss`` itself (the base of every class here). ``serialize`` is Keras's
own serializer; ``deserialize`` is Keras's deserializer with this package's names added, so a
config from ``serialize`` (ours or Keras's) comes back through either package's ``deserialize``:
ours are registered under "custom_losses", which ``keras.losses.deserialize`` finds by itself.
"""

from __future__ import annotations

from typing import Any, Callable

import keras

#: The base class of every loss class, the one of keras.losses (not a copy): isinstance works.
Loss = keras.losses.Loss


def serialize(loss: Loss | Callable) -> dict[str, Any]:
    """The config of a loss instance or function, as ``keras.losses.serialize`` makes it.

    Example:
        >>> from custom_losses.segmentation import Dice
        >>> config = serialize(Dice(axis=(1, 2)))
        >>> config["registered_name"], config["config"]["axis"]
        ('custom_losses>Dice', (1, 2))
    """
    return keras.saving.serialize_keras_object(loss)


def deserialize(name: dict[str, Any] | str, custom_objects: dict[str, Any] | None = None) -> Any:
    """The loss instance or function a config (or name) describes, as ``keras.losses.deserialize``.

    A name of ours gives what :func:`custom_losses.get` gives (a function for a function name or
    alias, a new instance for a class name), as ``keras.losses.deserialize`` does for Keras's
    names; other names and configs are looked up in ``custom_objects``, then among this
    package's losses, then among Keras's. So a config of a Keras class (which names it by its
    bare name, e.g. "Dice") gives our class here and Keras's in ``keras.losses.deserialize``.

    Example:
        >>> type(deserialize(serialize(keras.losses.Dice()))).__name__
        'Dice'
        >>> deserialize("dice").__module__, type(deserialize("Dice")).__module__
        ('custom_losses.segmentation', 'custom_losses.segmentation')
    """
    from custom_losses import registry

    if isinstance(name, str) and not custom_objects and name in registry.LOSS_NAMES:
        return registry.get(name)
    return keras.saving.deserialize_keras_object(
        name, module_objects=_module_objects(), custom_objects=custom_objects
    )


def _module_objects() -> dict[str, Any]:
    """Keras's loss names, then ours on top (imported here: registry imports every module)."""
    from keras.src.losses import ALL_OBJECTS_DICT

    from custom_losses import registry

    return {**ALL_OBJECTS_DICT, **registry.FUNCTIONS, **registry.CLASSES, **_aliases(registry)}


def _aliases(registry: Any) -> dict[str, Any]:
    return {alias: registry.FUNCTIONS[target] for alias, target in registry.ALIASES.items()}
