"""The data: its contract, the decode-once cache, the feeds (tf.data or threads), the demo set,
and the data as a trial sees it."""
