#!/usr/bin/env bash
# Makes SoftHSM2 (a software PKCS#11 token) available for the PKCS#11 root-key tests and benchmark:
# installs Debian's softhsm2 when softhsm2-util is missing, then prints the PKCS#11 library path.
# Idempotent. Tokens are not created here: each test run makes its own in a temporary directory.
set -euo pipefail

if ! command -v softhsm2-util >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-softhsm: softhsm2-util is missing and installing softhsm2 needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "setup-softhsm: installing softhsm2" >&2
  if ! apt-get install -y -q softhsm2 >&2; then
    apt-get update -q >&2
    apt-get install -y -q softhsm2 >&2
  fi
fi

for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
  if [ -f "$lib" ]; then
    echo "$lib"
    exit 0
  fi
done
echo "setup-softhsm: softhsm2-util is installed but libsofthsm2.so was not found" >&2
exit 1
