"""Breathing-pattern classification: networks, training data, training, inference, metrics."""
