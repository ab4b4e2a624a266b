"""The data: its contract, the decode-once cache, tf.data pipelines, the demo set, and the data
as a trial sees it."""
