#!/usr/bin/env bash
# Install OpenLink Virtuoso (Debian's virtuoso-opensource 7.2) when `virtuoso-t` is missing, for the tests
# that run budgetkg against a second real SPARQL server (tests/test_virtuoso.py starts its own instance on
# free loopback ports with its own ini and data folder; the packaged system service is never used).
# Idempotent, and instant when virtuoso-t is on PATH. Debian packages are installed only as root, with no
# prompts: the DBA password question is preseeded empty, which leaves the packaged daemon disabled.
#   scripts/setup-virtuoso.sh
set -euo pipefail

if command -v virtuoso-t >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-virtuoso: virtuoso-t is missing and this is not root on Debian: install 'virtuoso-opensource'" \
       "(the Virtuoso tests skip without it, and fail under CI=true)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "virtuoso-opensource-7 virtuoso-opensource-7/dba-password password" | debconf-set-selections
echo "virtuoso-opensource-7 virtuoso-opensource-7/dba-password-again password" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq virtuoso-opensource </dev/null
echo "setup-virtuoso: installed $(virtuoso-t -? 2>&1 | grep -m1 -o 'Version [0-9.]*' || echo virtuoso-opensource)"
