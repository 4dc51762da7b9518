#!/usr/bin/env bash
# Makes the reference `age` CLI (and age-keygen) available for the stream interop tests:
# installs Debian's `age` package when `age` is missing, then prints the path of `age`.
# Idempotent. The interop tests fail on CI (CI set) when `age` is absent and skip locally.
set -euo pipefail

if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-age: age is missing and installing the Debian package needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "setup-age: installing age" >&2
  if ! apt-get install -y -q age >&2; then
    apt-get update -q >&2
    apt-get install -y -q age >&2
  fi
fi

command -v age
