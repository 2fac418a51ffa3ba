SUMMARY = "Example Device OS"
DESCRIPTION = "Production image: read-only squashfs root for RAUC's A/B \
slots, /etc and all state on the data partition, systemd, RAUC and the \
update agent."
HOMEPAGE = "https://example.com/ota"
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "read-only-rootfs overlayfs-etc"
# Nothing may write to the root at first boot; no package manager (the
# overlayfs-etc preinit and package-management do not mix).
IMAGE_FEATURES:remove = "package-management"

IMAGE_INSTALL = " \
    packagegroup-core-boot \
    kernel-image \
    rauc \
    rauc-mark-good \
    rauc-service \
    update-agent \
    example-provision \
    e2fsprogs-mke2fs \
    ${EXAMPLE_BOOTLOADER_TOOLS} \
    ${CORE_IMAGE_EXTRA_INSTALL} \
"

# Userspace side of RAUC's bootloader backend, and the old hardware
# revision variable for example-provision.
EXAMPLE_BOOTLOADER_TOOLS ??= "example-fw-env u-boot-fw-utils"
EXAMPLE_BOOTLOADER_TOOLS:x86-64 = "grub-editenv"

IMAGE_LINGUAS = ""

# The bundle's root image, and the factory image for the SD card / disk.
IMAGE_FSTYPES = "${EXAMPLE_ROOTFS_FSTYPE} wic"
EXAMPLE_ROOT_SLOT_SIZE ??= "1024M"
EXAMPLE_DATA_SIZE ??= "512M"
WKS_FILE ??= "example-sdcard.wks.in"
WKS_FILE:x86-64 = "example-grub-efi.wks.in"
do_image_wic[depends] += "example-boot-partitions:do_deploy"
WKS_FILE_DEPENDS:append = " squashfs-tools-native"

# wic's plug-in for a partition filled from IMAGE_BOOT_FILES is called
# bootimg-partition on scarthgap and bootimg_partition from whinlatter on.
EXAMPLE_WIC_BOOTIMG_PARTITION = "${@'bootimg-partition' if 'scarthgap' in (d.getVar('LAYERSERIES_CORENAMES') or '').split() else 'bootimg_partition'}"

# The root slot is raw squashfs of at most EXAMPLE_ROOT_SLOT_SIZE.
IMAGE_ROOTFS_MAXSIZE ?= "1048576"
