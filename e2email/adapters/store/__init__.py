"""What e2email keeps on disk between runs: the outbox, the key store and pins, the transport caches."""
