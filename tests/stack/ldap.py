"""OpenLDAP (slapd) with base ``dc=example,dc=test``: ldap:// on 389 (StartTLS) and ldaps:// on
636, the test CA's certificate, an OpenPGP keyserver schema (``pgp-keyserver.schema``) with the
``cn=PGPServerInfo`` entry GnuPG looks for, and ``ou=people`` for S/MIME certificates
(``userCertificate;binary`` of an inetOrgPerson). Anonymous read, writes as ``bind_dn``.
"""

from __future__ import annotations

from pathlib import Path

from .procs import Daemon, Processes, StackError, run, tcp_open, which

BASE = "dc=example,dc=test"
SCHEMA = Path(__file__).with_name("pgp-keyserver.schema")

_BASE_LDIF = f"""\
dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: e2email test stack

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: cn=PGPServerInfo,{BASE}
objectClass: pgpServerInfo
cn: PGPServerInfo
pgpBaseKeySpaceDN: ou=GnuPG Keys,{BASE}
pgpSoftware: GnuPG
pgpVersion: 2

dn: ou=GnuPG Keys,{BASE}
objectClass: organizationalUnit
ou: GnuPG Keys
"""


class Ldap:
    """A slapd instance under ``directory``."""

    base = BASE
    bind_dn = f"cn=admin,{BASE}"
    bind_password = "admin-password"
    pgp_base = f"ou=GnuPG Keys,{BASE}"
    people_base = f"ou=people,{BASE}"

    def __init__(
        self,
        directory: Path,
        procs: Processes,
        *,
        ip: str,
        host: str,
        cert: tuple[Path, Path],
        ca_pem: Path,
    ) -> None:
        self.dir = directory
        self.procs = procs
        self.ip = ip
        self.host = host
        self.cert, self.key = cert
        self.ca_pem = ca_pem
        self.conf = directory / "slapd.conf"
        self.log = directory / "slapd.out"
        self.daemon: Daemon | None = None

    @property
    def url(self) -> str:
        """``ldap://HOST:389`` (StartTLS)."""
        return f"ldap://{self.host}:389"

    @property
    def ldaps_url(self) -> str:
        """``ldaps://HOST:636`` (implicit TLS)."""
        return f"ldaps://{self.host}:636"

    def _config(self) -> str:
        d = self.dir
        schemas = ["core", "cosine", "inetorgperson"]
        includes = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in schemas)
        return f"""\
{includes}
include {SCHEMA}
pidfile {d / "slapd.pid"}
argsfile {d / "slapd.args"}
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile {self.cert}
TLSCertificateKeyFile {self.key}
TLSCACertificateFile {self.ca_pem}
database mdb
maxsize 104857600
suffix "{BASE}"
rootdn "{self.bind_dn}"
rootpw {self.bind_password}
directory {d / "db"}
index objectClass eq
access to * by * read
"""

    def prepare(self) -> None:
        """Write slapd.conf and load the base entries with slapadd (offline)."""
        if not SCHEMA.exists():
            raise StackError(f"missing {SCHEMA}")
        (self.dir / "db").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._config())
        ldif = self.dir / "base.ldif"
        ldif.write_text(_BASE_LDIF)
        run([which("slapadd"), "-q", "-f", str(self.conf), "-l", str(ldif)], what="slapadd")
        (self.dir / "password").write_text(self.bind_password)
        (self.dir / "password").chmod(0o600)

    def start(self) -> None:
        """Spawn slapd in the foreground (call :meth:`wait_ready` afterwards)."""
        urls = f"ldap://{self.ip}:389/ ldaps://{self.ip}:636/"
        self.daemon = self.procs.spawn(
            "slapd", [which("slapd"), "-d", "0", "-f", str(self.conf), "-h", urls], self.log
        )

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until both ports accept connections."""
        if self.daemon is None:
            raise StackError("slapd was not started")
        self.daemon.wait_ready(lambda: tcp_open(self.ip, 389) and tcp_open(self.ip, 636), timeout)

    def add(self, ldif: str) -> None:
        """Add entries (LDIF text) as the admin, over ldap:// on the block address."""
        path = self.dir / "add.ldif"
        path.write_text(ldif)
        run(
            [
                which("ldapadd"),
                "-x",
                "-H",
                f"ldap://{self.ip}:389",
                "-D",
                self.bind_dn,
                "-y",
                str(self.dir / "password"),
                "-f",
                str(path),
            ],
            what="ldapadd",
        )
