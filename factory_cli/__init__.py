"""The command line: the composition root, the only place that wires the layers together."""
