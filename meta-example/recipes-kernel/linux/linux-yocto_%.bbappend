# squashfs root, overlayfs, dm-verity and friends (files/example-ota.cfg).
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
SRC_URI:append = " file://example-ota.cfg"
