"""The lecture's math in numpy, without TensorFlow: back propagation and the worked example
(``backprop``), the variants and schedules of gradient descent (``gd``), each epoch's order
of samples (``order``), gradient checking (``gradcheck``), the lecture's code (``listing``)."""
