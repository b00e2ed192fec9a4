"""IMAP folders: decrypting a folder (fetch pipeline, write targets, the use case)."""
