#!/usr/bin/env bash
# Builds the Docker base image debian:bookworm-slim locally, for machines that
# reach Debian's package mirrors but no image registry: debootstrap
# --variant=minbase into a temporary folder, trimmed like the official slim
# image, then `docker import`. Does nothing when the image is already there.
#   deploy/base-image.sh            build it if missing
#   deploy/base-image.sh --force    build it again, replacing the tag
# Environment: BASE_IMAGE (debian:bookworm-slim), DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (default: the first Debian mirror in this machine's apt
# sources, else debootstrap's own default), DEBIAN_SECURITY_MIRROR (default:
# the security mirror of this machine's apt sources, else none).
# Needs root (debootstrap) and a running Docker engine. Nothing is cached: the
# folder is removed afterwards, whatever happens.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
SUITE=${DEBIAN_SUITE:-bookworm}
force=0
[ "${1:-}" = --force ] && force=1

say() { echo "base-image: $*"; }
die() { echo "base-image: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first)"
if [ "$force" = 0 ] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "$BASE_IMAGE is already there"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
    die "cannot install debootstrap"
fi

# The mirrors this machine's apt already uses (deb822 .sources or one-line .list).
apt_uris() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' |
    tr ' ' '\n' | grep -E '^https?://' || true
}
MIRROR=${DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -n1 || true)}
SECURITY=${DEBIAN_SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)}
MIRROR=${MIRROR%/}
SECURITY=${SECURITY%/}

root=$(mktemp -d /var/tmp/shop-base-image.XXXXXX)
cleanup() { rm -rf --one-file-system "$root"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
say "debootstrap --variant=minbase $SUITE ${MIRROR:-(debootstrap default mirror)} into $root"
# shellcheck disable=SC2086
debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" \
  "$SUITE" "$root" ${MIRROR:+"$MIRROR"} >"$root.log" 2>&1 ||
  { tail -n 20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"

# apt sources of the image: the suite, its updates and, if known, security.
mirror_used=$(awk '$1 == "deb" { print $2; exit }' "$root/etc/apt/sources.list")
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror_used" "$SUITE" "$SUITE"
  if [ -n "$SECURITY" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$SECURITY" "$SUITE"
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"

# What the official slim image does: no docs, man pages or translations from
# later installs; apt cleans its cache; no recommends needed by us.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"

# Trim what the slim image leaves out, and this machine's traces.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* \
  "$root"/usr/share/lintian/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
  "$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"
rm -f "$root/etc/machine-id" && : >"$root/etc/machine-id"

say "importing as $BASE_IMAGE"
tar --numeric-owner --xattrs -C "$root" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE (deploy/base-image.sh)" \
    - "$BASE_IMAGE" >/dev/null
say "$BASE_IMAGE built in $(($(date +%s) - start)) s, $(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
