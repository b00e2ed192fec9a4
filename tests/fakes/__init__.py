"""Small fake servers and backends for misbehaviour real servers will not produce.

- ``smtp``: a scripted SMTP server that records every byte the client sent, split into what
  came in clear and what came inside TLS (STARTTLS injection, 502 to STARTTLS, no STARTTLS,
  4xx on DATA, resets mid-DATA, partial RCPT refusal, REQUIRETLS, OAuth mechanisms).
- ``pki``: a throwaway CA and a server certificate for 127.0.0.1 / fake.example.test.
- ``keyring_backend``: a keyring backend storing in a JSON file (``E2EMAIL_TEST_KEYRING``),
  selected with ``PYTHON_KEYRING_BACKEND=fakes.keyring_backend.FileKeyring``.
"""
