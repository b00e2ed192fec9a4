"""Use cases: each wires core decisions to adapters for one command (send, check, imap decrypt...)."""
