# Mount points that must exist in the read-only root, and the fstab above.
FILESEXTRAPATHS:prepend := "${THISDIR}/${BPN}:"
dirs755:append = " /data /bootenv"
