"""Transport: the MX path verdict (DANE, MTA-STS, TLS) for check and send, and Received traces."""
