#!/usr/bin/env bash
# Installs the build, test and demo prerequisites of libstkdr on Debian 12 if any is missing (as root).
# Used by scripts/test.sh and scripts/demo.sh; safe to run again (does nothing when all are present).
set -uo pipefail

PACKAGES=(build-essential meson ninja-build pkg-config libcurl4-openssl-dev libcjson-dev libpq-dev
	libmbedtls-dev zlib1g-dev libzstd-dev check abigail-tools gcovr postgresql-15 postgresql-contrib
	postgresql-client-15 python3 zstd libxml2-dev)

missing=()
if command -v dpkg >/dev/null 2>&1; then
	for p in "${PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "warning: missing packages (run as root to install them): ${missing[*]}" >&2
	exit 0
fi
printf '\n==> installing %s\n' "${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "warning: apt-get update failed" >&2
apt-get install -y --no-install-recommends "${missing[@]}" || { echo "error: apt-get install failed" >&2; exit 1; }
