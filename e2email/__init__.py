"""e2email: end-to-end encryption for outgoing mail.

Importing this package has no side effects; it only carries the version.
"""

__version__ = "0.1.0"
