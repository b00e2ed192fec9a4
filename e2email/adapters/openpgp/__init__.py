"""OpenPGP through gpg: typed results, streaming decryption, judging network keys, armor checksum."""
