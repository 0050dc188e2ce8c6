"""Circle loss (Sun et al., 2020): a metric-learning loss on L2-normalised embeddings.

For each query embedding it pulls the same-label references closer and pushes the others away,
each pair weighted by how far it is from its optimum, as ``keras.losses.circle`` (3.15.1) does.
"""

from __future__ import annotations

from keras import ops

from custom_losses._common import TensorLike, maximum, per_sample_loss
from custom_losses.base import loss_class


@per_sample_loss(labels=True, mask_zeros=True)
def circle(
    y_true: TensorLike,
    y_pred: TensorLike,
    ref_labels: TensorLike = None,
    ref_embeddings: TensorLike = None,
    remove_diagonal: bool = True,
    gamma: float = 80,
    margin: float = 0.4,
) -> TensorLike:
    """Circle loss between integer labels and L2-normalised embeddings.

    Formula, for query ``i`` against every reference ``j`` (d = cosine distance = 1 - cos):

    ```python
    d = max(1 - y_pred @ ref_embeddings.T, 0)
    pos[i, j] = -gamma * max(margin + d, 0) * (margin - d)           # same label (j != i)
    neg[i, j] = gamma * max(1 + margin - d, 0) * (1 - margin - d)    # other label
    loss[i] = softplus(logsumexp(pos[i, :]) + logsumexp(neg[i, :]))
    ```

    A query with no positive (or no negative) reference gets loss 0, and the zero losses are
    masked out of the "sum_over_batch_size" mean (Keras's rule). In the example, with margin 0,
    the positive pair (distance 0) and the negative pair (distance 1) are both at their optimum:
    weight 0, logit 0, loss softplus(0 + 0); the third query has no positive.

    Args:
        y_true: integer labels, shape ``(batch,)``.
        y_pred: L2-normalised embeddings, shape ``(batch, dim)``.
        ref_labels: labels of the references, shape ``(refs,)``. Defaults to ``y_true``.
        ref_embeddings: L2-normalised references, shape ``(refs, dim)``. Defaults to ``y_pred``.
        remove_diagonal: whether a query is not its own positive (when the references are the
            queries). Defaults to True.
        gamma: the scale of the similarities. Defaults to 80.
        margin: the relaxation margin. Defaults to 0.4.

    Returns:
        Loss per query, shape ``(batch,)``.

    Raises:
        ValueError: if the labels are not of shape ``(batch,)`` (or ``(batch, 1)``) or the
            embeddings not of shape ``(batch, dim)``.

    Example:
        >>> loss = circle([0, 0, 1], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], gamma=1.0, margin=0.0)
        >>> [round(float(x), 6) for x in ops.convert_to_numpy(loss)]  # softplus(0 + 0) = log 2
        [0.693147, 0.693147, 0.0]
    """
    y_true = ops.cast(ops.convert_to_tensor(y_true), "int32")
    if len(y_true.shape) == 2 and y_true.shape[1] == 1:
        y_true = ops.squeeze(y_true, axis=1)
    batch_sizes = {y_true.shape[0], y_pred.shape[0]} - {None} if len(y_true.shape) else set()
    if len(y_pred.shape) != 2 or len(y_true.shape) != 1 or len(batch_sizes) > 1:
        raise ValueError(
            "circle needs labels of shape (batch,) and embeddings of shape (batch, dim), "
            f"got y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    ref_embeddings = y_pred if ref_embeddings is None else ops.cast(ref_embeddings, y_pred.dtype)
    ref_labels = y_true if ref_labels is None else ops.cast(ref_labels, "int32")

    distance = maximum(1.0 - ops.matmul(y_pred, ops.transpose(ref_embeddings)), 0.0)
    positive, negative = _pair_masks(y_true, ref_labels, remove_diagonal)
    pos_weight = maximum((margin + distance) * ops.cast(positive, distance.dtype), 0.0)
    neg_weight = maximum((1.0 + margin - distance) * ops.cast(negative, distance.dtype), 0.0)
    pos_logits = -gamma * pos_weight * (margin - distance)
    neg_logits = gamma * neg_weight * (1.0 - margin - distance)
    # -inf outside the mask: exp(-inf) = 0 drops the pair from the logsumexp
    pos_term = ops.logsumexp(ops.where(positive, pos_logits, float("-inf")), axis=1)
    neg_term = ops.logsumexp(ops.where(negative, neg_logits, float("-inf")), axis=1)
    return ops.softplus(pos_term + neg_term)


def _pair_masks(
    labels: TensorLike, ref_labels: TensorLike, remove_diagonal: bool
) -> tuple[TensorLike, TensorLike]:
    """Boolean (batch, refs) masks: same label (without i == j if ``remove_diagonal``), other."""
    same = ops.equal(ops.reshape(labels, (-1, 1)), ops.reshape(ref_labels, (1, -1)))
    positive = same
    if remove_diagonal:
        diagonal = ops.eye(ops.shape(same)[0], ops.shape(same)[1], dtype="bool")
        positive = ops.logical_and(same, ops.logical_not(diagonal))
    return positive, ops.logical_not(same)


#: The class's references are the batch itself (no ref_labels, ref_embeddings), as in Keras.
Circle = loss_class(
    circle,
    "Circle",
    order=("gamma", "margin", "remove_diagonal", "reduction", "name", "dtype"),  # Keras's order
    defaults={"gamma": 80.0},  # Keras's class: 80.0, its function: 80
)
