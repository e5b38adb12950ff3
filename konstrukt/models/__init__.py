"""Models: backbone registry, heads built from layer specs, and the classifier that joins them."""
