# Replace meta-raspberrypi's boot script with the A/B one. Its recipe fills
# in @@KERNEL_IMAGETYPE@@ and @@KERNEL_BOOTCMD@@ and runs mkimage.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
