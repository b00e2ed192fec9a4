"""Protection: the job model of one message, and its PGP/MIME and S/MIME copies."""
