"""Property tests (hypothesis) of the parsers that read what the network sends."""
