SUMMARY = "Example Device OS update bundle"
DESCRIPTION = "Verity bundle carrying the read-only root filesystem for \
the A/B root slots, built and signed with bundle-tool."
HOMEPAGE = "https://example.com/ota"
LICENSE = "MIT"

inherit bundle_tool

# Must equal compatible= in system.conf and [device] compatible in the
# agent's agent.toml; ci/check-layer compares the three.
RAUC_BUNDLE_COMPATIBLE = "example-device"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "${DISTRO_NAME} ${DISTRO_VERSION} (${MACHINE})"
RAUC_BUNDLE_FORMAT = "verity"

EXAMPLE_BUNDLE_IMAGE ??= "example-image"

RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "${EXAMPLE_BUNDLE_IMAGE}"
RAUC_SLOT_rootfs[fstype] = "${EXAMPLE_ROOTFS_FSTYPE}"
# Devices fetch only the blocks that changed when they stream the bundle.
RAUC_SLOT_rootfs[adaptive] = "block-hash-index"
