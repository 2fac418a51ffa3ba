# Shared helpers for the ci/ scripts. Source it; do not run it.
# shellcheck shell=bash

# The Debian packages the test suite and the demo use, and why:
#   rauc rauc-service       the reference implementation our bundles must satisfy
#   squashfs-tools          unsquashfs/mksquashfs as independent checkers
#   libsquashfs-dev         libsquashfs, which the bundle library links
#   libclang-dev            needed by crates that generate C bindings
#   cryptsetup-bin          veritysetup, the reference for the hash tree
#   dbus libglib2.0-bin     a private bus for the RAUC service (gdbus for debugging)
#   e2fsprogs               mkfs.ext4 for sample root images
#   softhsm2 opensc libengine-pkcs11-openssl   PKCS#11 signing tests
#   postgresql              the server's second storage backend
#   the linter for the project's own shell scripts (package shellcheck)
#   pkg-config openssl libssl-dev              building and checking signatures
#   grub-common python3-venv                  offline checks of the Yocto layer (grub-script-check, oelint-adv, kas)
#   qemu-system-x86 ovmf grub-efi-amd64-bin busybox-static dosfstools mtools fdisk kmod cpio
#                                             the qemu A/B boot test (ci/qemu-ab-test)
#   qemu-system-arm gcc-aarch64-linux-gnu bison flex libgnutls28-dev uuid-dev u-boot-tools
#   libubootenv-tool gpgv xz-utils debian-archive-keyring
#                                             the qemu U-Boot test (ci/qemu-uboot-test):
#                                             U-Boot built from Debian's source, fw_setenv
# shellcheck disable=SC2034 # used by the scripts that source this file
CI_PACKAGES=(
  rauc rauc-service squashfs-tools libsquashfs-dev libclang-dev cryptsetup-bin
  dbus libglib2.0-bin e2fsprogs softhsm2 opensc libengine-pkcs11-openssl
  postgresql shellcheck pkg-config openssl libssl-dev python3 grub-common python3-venv time curl
  qemu-system-x86 ovmf grub-efi-amd64-bin busybox-static dosfstools mtools fdisk kmod cpio
  qemu-system-arm gcc-aarch64-linux-gnu bison flex libgnutls28-dev uuid-dev u-boot-tools
  libubootenv-tool gpgv xz-utils debian-archive-keyring
)

# Where cargo puts binaries: honours CARGO_TARGET_DIR like cargo does.
# (Scripts source this file from the repository root.)
# shellcheck disable=SC2034 # used by the scripts that source this file
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$PWD/target}")

# A full test run compiles everything once; incremental caches would only
# double the disk it needs. A developer's own `cargo` commands keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs whichever of the given Debian packages are missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Cargo must come from rustup (Debian's rustc is too old for this workspace).
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo not found: install a Rust toolchain (rustup) first" >&2
    exit 1
  }
}

# Starts a throw-away PostgreSQL cluster (Debian's server binaries, data in
# a temporary directory, loopback only, fsync off: it is for tests) and
# exports TEST_POSTGRES_URL. The cluster is stopped by stop_postgres.
start_postgres() {
  local bin
  bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found" >&2; exit 1; }
  PG_DIR=$(mktemp -d /tmp/ota-pg.XXXXXX)
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  local port=$((20000 + RANDOM % 20000))
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-k $PG_DIR -c listen_addresses=127.0.0.1 -p $port -c fsync=off -c max_connections=200" start >/dev/null
  PG_CTL=("${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data")
  export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  log "PostgreSQL for tests at $TEST_POSTGRES_URL"
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ]; then
    "${PG_CTL[@]}" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
  fi
}
