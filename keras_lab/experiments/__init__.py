"""Experiments on the lecture's problem, each on the engine's loop: loss ``curves`` of the
three variants, ``trajectory`` paths on a 2-D loss surface, ``multistart`` (K starts at
once), ``minima`` (local minima of the sine fit) and the ``losslab`` (which loss)."""
