# A/B boot support for the Raspberry Pi U-Boot: squashfs, and the
# environment on the bootenv partition (see files/example-ab.cfg).
FILESEXTRAPATHS:prepend:rpi := "${THISDIR}/files:"
SRC_URI:append:rpi = " file://example-ab.cfg"
