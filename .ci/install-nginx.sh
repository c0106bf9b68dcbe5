#!/bin/sh
# Installs Debian's nginx for the cluster test (test/cluster.test.ts) when it is missing; safe to run twice.
set -eu

present() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

if present; then
  echo "install-nginx: $( (/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1) | head -n1) already present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-nginx: apt-get not found; install nginx by other means (the cluster test skips without it)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-nginx: not root and no sudo; cannot install nginx" >&2
    exit 1
  fi
fi

# The package's postinst would start a system nginx on port 80: a policy-rc.d that says 101 stops it.
# Only ours is removed afterwards (Docker images often ship their own).
POLICY=/usr/sbin/policy-rc.d
OURS=0
cleanup() { if [ "$OURS" = "1" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  OURS=1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run instead of failing on its lock.
APT="apt-get -o DPkg::Lock::Timeout=300 -qq"
$SUDO $APT update
present || $SUDO $APT install -y --no-install-recommends nginx >/dev/null

/usr/sbin/nginx -v
