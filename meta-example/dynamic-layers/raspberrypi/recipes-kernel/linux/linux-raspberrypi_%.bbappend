# The same kernel options as linux-yocto gets (linux-raspberrypi uses
# linux-yocto's configuration-fragment handling).
FILESEXTRAPATHS:prepend := "${EXAMPLE_LAYERDIR}/recipes-kernel/linux/files:"
SRC_URI:append = " file://example-ota.cfg"
