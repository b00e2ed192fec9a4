#!/bin/sh
# Install the Debian packages the test suite's real servers and oracles need.
# Idempotent: does nothing when everything is installed. Needs root (or sudo) otherwise.
# A policy-rc.d guard keeps the packages from starting daemons with their default configs.
set -eu

PACKAGES="postfix dovecot-core dovecot-imapd slapd ldap-utils knot knot-dnsutils unbound
gnupg gpg-agent gpgsm dirmngr gpg-wks-server gpg-wks-client openssl sq swaks msmtp ldnsutils
python3-venv ca-certificates
strace git git-email mutt s-nail
libmailtools-perl libemail-valid-perl libauthen-sasl-perl libnet-smtp-ssl-perl libio-socket-ssl-perl
libnet-ssleay-perl
libnss3-tools notmuch sqop gosop"
# libnss3-tools, notmuch, sqop and gosop are the client engines of tests/interop (NSS, GMime, SOP).
# The Perl lines are Perl modules git send-email (Mail::Address, Authen::SASL, IO::Socket::SSL)
# and swaks (Net::SSLeay) load at run time: they are only Recommends, which
# --no-install-recommends drops, so they are named here.

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-system-deps: need root to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-system-deps: installing:$missing"
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
fi
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
