# Example Device's RAUC configuration: system.conf per machine (GRUB or
# U-Boot), the keyring from EXAMPLE_KEYRING, and the system-info handler.
#
# Both scarthgap and wrynose ship RAUC 1.15, which reads
# /usr/lib/rauc/system.conf when /etc/rauc/system.conf does not exist, so
# this layer installs there on both series. (meta-rauc itself installs to
# /etc/rauc on scarthgap and /usr/lib/rauc on wrynose; this bbappend
# replaces its do_install, so the difference does not reach the image.)

FILESEXTRAPATHS:prepend := "${THISDIR}/files:"

SRC_URI:append = " file://example-system-info"

# The keyring is a full path outside the layer (a CI secret or the
# development PKI): copy it at install time instead of fetching it, and
# rebuild when it changes.
RAUC_KEYRING_URI = ""
do_install[file-checksums] += "${EXAMPLE_KEYRING}:True"

do_install() {
    if [ ! -s "${EXAMPLE_KEYRING}" ]; then
        bbfatal "EXAMPLE_KEYRING (${EXAMPLE_KEYRING}) is missing: run ci/dev-pki ${EXAMPLE_PKI_DIR} or point it at the release root certificate"
    fi
    install -d ${D}${nonarch_libdir}/rauc
    install -m 0644 ${UNPACKDIR}/system.conf ${D}${nonarch_libdir}/rauc/system.conf
    install -m 0644 ${EXAMPLE_KEYRING} ${D}${nonarch_libdir}/rauc/keyring.pem
    install -m 0755 ${UNPACKDIR}/example-system-info ${D}${nonarch_libdir}/rauc/example-system-info
}

FILES:${PN} += "${nonarch_libdir}/rauc"
