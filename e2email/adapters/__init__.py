"""Adapters: one outside thing each (network peers, gpg, files); library errors become errors.py; no policy."""
