"""The garbage collector of a short-lived e2email process (docs/performance.md).

A command imports a few hundred modules, builds its objects, does its work and exits. Two
kinds of CPython collection cost it CPU for nothing: those triggered while the imports
allocate (nothing imported is garbage) and the full one at interpreter exit (everything is
about to go). On the sendmail path they were ~15 % of its CPU. So the collector is off while
importing; when the imports are done their objects are frozen out of later collections and
the collector runs as usual during the work (a large message or a big IMAP folder keeps its
memory bounded); and before exiting, everything is frozen so the last collection has nothing
to walk. Frozen objects are still freed by reference counting; what is skipped is only the
search for unreachable cycles in a process that is about to end.
"""

from __future__ import annotations

import gc


def starting() -> None:
    """At the entry point, before the first import of the command's modules."""
    gc.disable()


def imported() -> None:
    """When the command's modules are imported and the work starts."""
    gc.freeze()
    gc.enable()


def exiting() -> None:
    """On the way out, whatever the outcome."""
    gc.freeze()
    gc.enable()
