"""S/MIME's CMS (RFC 5652) with cryptography: our identity, writing, streamed enveloping, reading, decryption."""
