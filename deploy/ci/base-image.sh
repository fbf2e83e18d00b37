#!/usr/bin/env bash
# Makes CI's own base image from Debian's packages (no image registry needed): a minimal bookworm
# root file system by debootstrap with Debian's python3.11, imported into buildah's local storage as
# localhost/escalations-ci-base:<hash>. Prints that name on its last line.
#
# The certificate authorities this machine adds to Debian's (/usr/local/share/ca-certificates, e.g.
# a proxy's between CI and PyPI) are trusted in the image too, and pip is pointed at the bundle:
# they are added at import, so the image's key covers them and the debootstrap cache does not.
#
# The root file system is cached as a tarball under $BASE_CACHE (default /var/cache/escalations-ci),
# keyed by a hash of this script: a changed recipe builds a new one; an unchanged recipe reuses it
# (and reuses the imported image when buildah still has it). Safe to cache: debootstrap's output
# depends only on the recipe and on Debian's archive, and a stale security update is picked up by
# the recipe's own `apt-get upgrade` when the week number (part of the key) changes.
set -euo pipefail

SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,python3-venv,ca-certificates,tzdata"
BASE_CACHE="${BASE_CACHE:-/var/cache/escalations-ci}"

LOCAL_CAS=/usr/local/share/ca-certificates

# The key: this recipe's text plus the ISO week, so the cache is refreshed at least weekly.
key="$( (cat "$0"; date -u +%G-W%V) | sha256sum | cut -c1-16)"
tarball="${BASE_CACHE}/debian-${SUITE}-python3-${key}.tar"
ca_key="$( (echo "$key"; find "$LOCAL_CAS" -name '*.crt' -type f -print0 2>/dev/null | sort -z | xargs -0r cat) | sha256sum | cut -c1-16)"
image="localhost/escalations-ci-base:${ca_key}"

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "base image ${image} is already in buildah's storage" >&2
  echo "$image"
  exit 0
fi

mkdir -p "$BASE_CACHE"
if [ ! -s "$tarball" ]; then
  rootfs="$(mktemp -d "${BASE_CACHE}/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap ${SUITE} (minbase + ${PACKAGES}) into ${rootfs}" >&2
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" >&2
  # Security updates: debootstrap takes the release pocket only.
  echo "deb ${MIRROR}-security ${SUITE}-security main" > "${rootfs}/etc/apt/sources.list.d/security.list"
  chroot "$rootfs" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq && apt-get clean && rm -rf /var/lib/apt/lists/*' >&2
  # A python3 under the names the public python images use, so one Containerfile serves both bases.
  ln -sf python3 "${rootfs}/usr/bin/python"
  tar --numeric-owner -C "$rootfs" -cf "${tarball}.part" .
  mv "${tarball}.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
  # Older keys are of no further use.
  find "$BASE_CACHE" -maxdepth 1 -name "debian-${SUITE}-python3-*.tar" ! -name "$(basename "$tarball")" -delete
fi

echo "importing ${tarball} as ${image}" >&2
container="$(buildah from scratch)"
mnt="$(buildah mount "$container")"
tar --numeric-owner -C "$mnt" -xf "$tarball"
if compgen -G "${LOCAL_CAS}/*.crt" >/dev/null; then
  cp "${LOCAL_CAS}"/*.crt "${mnt}/usr/local/share/ca-certificates/"
  chroot "$mnt" update-ca-certificates >&2
fi
buildah umount "$container" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
  --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --cmd /bin/bash "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
echo "$image"
