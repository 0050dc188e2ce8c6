"""The training engine: the one loop a student reads (``loop``: the only GradientTape and the
update rule), where batches come from (memory, TFRecord ``stream``), devices (one or
replicas under a strategy), ``callbacks`` around the loop, TensorBoard ``summaries`` and
multi-worker ``workers``."""
