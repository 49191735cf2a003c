"""Evaluation: features from a deploy net with pycaffe, and pure numpy verification metrics."""
