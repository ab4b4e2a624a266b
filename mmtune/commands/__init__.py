"""One thin handler per verb: read the parsed arguments, call the library, print."""
