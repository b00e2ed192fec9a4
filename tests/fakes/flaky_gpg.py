#!/usr/bin/env python3
"""A gpg front that makes the agent fail the first FLAKY_GPG_FAILURES secret-key steps.

Misbehaviour a real gpg-agent shows only under pressure (out of secure memory with many
concurrent decryptions, a dropped IPC connection), so it is staged: for ``--decrypt-files``
each file name read on stdin is either answered with ``ERROR pkdecrypt_failed CODE`` (code
from FLAKY_GPG_CODE) or decrypted by the real gpg into the output gpg would use (the name
minus ``.asc``). Every attempt appends a line to FLAKY_GPG_LOG. Anything else runs real gpg.
"""

import os
import subprocess
import sys


def main() -> int:
    args = sys.argv[1:]
    if "--decrypt-files" not in args:
        return subprocess.run(["gpg", *args], check=False).returncode
    base = [a for a in args if a != "--decrypt-files"]
    failures = int(os.environ["FLAKY_GPG_FAILURES"])
    log = os.environ["FLAKY_GPG_LOG"]
    for line in sys.stdin:
        name = line.rstrip("\n")
        with open(log, "a") as f:
            f.write(name + "\n")
        with open(log) as f:
            attempt = sum(1 for _ in f)
        sys.stdout.write(f"[GNUPG:] FILE_START 3 {name}\n")
        sys.stdout.flush()
        if attempt <= failures:
            sys.stdout.write(f"[GNUPG:] ERROR pkdecrypt_failed {os.environ['FLAKY_GPG_CODE']}\n")
            sys.stdout.write("[GNUPG:] DECRYPTION_FAILED\n")
        else:
            out = name.removesuffix(".asc")
            subprocess.run(["gpg", *base, "--output", out, "--decrypt", name], check=False)
        sys.stdout.write("[GNUPG:] FILE_DONE\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
