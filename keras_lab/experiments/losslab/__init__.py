"""``python -m keras_lab.losslab``: which loss? The lecture's second half made visible.

"Loss function is chosen according to the problem type" (the lecture): this lab shows how
the losses of :mod:`custom_losses` differ, and what that does to training, in three parts,
each a module of this package:

    shapes      each loss and its derivative (tf.GradientTape on custom_losses): against
                the error e, MAPE against the relative error, the classification losses
                against the predicted probability of the true class, hinge against the margin
    outliers    the sine-fit network on noisy sine points with gross outliers, one run per
                regression loss from the same start: who is pulled away from the clean curve
    realdata    one real data set per problem type, bundled with scikit-learn: diabetes
                (regression), breast cancer (binary), digits (10 classes)
    figures     the matplotlib figures of the three parts
    cli         the command line: flags, the run directory, result.json, TensorBoard

Every network is trained with the project's own loop,
:class:`keras_lab.engine.loop.GradientDescent`.
Importing this package imports neither TensorFlow nor Keras (``--help`` stays fast).
"""
