SUMMARY = "bundle-tool for the build host: builds and signs RAUC bundles"
DESCRIPTION = "The project's rauc-compatible bundle tool, used by \
bundle_tool.bbclass instead of rauc-native."

require example-ota-workspace.inc
# Crates from Cargo.lock (ci/crates-inc).
require bundle-tool-crates.inc

inherit_defer native

# libsquashfs (squashfs-tools-ng) and OpenSSL, found through pkg-config.
DEPENDS += "openssl-native pkgconfig-native squashfs-tools-ng-native"
