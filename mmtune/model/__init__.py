"""The seed's network family from plain values, its layers, and the trainer."""
