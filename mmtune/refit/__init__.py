"""Refit on every labelled row, predictions and the submission."""
