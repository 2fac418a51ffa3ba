SUMMARY = "First-boot provisioning for Example Device OS"
DESCRIPTION = "Writes the device's serial number, hardware revision (RAUC \
variant) and the update agent's identity and server credentials to the \
data partition, once, from a manufacturing file, the device tree or DMI, \
or the bootloader variable older images used."
HOMEPAGE = "https://example.com/ota"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = " \
    file://example-provision \
    file://example-provision.service \
    file://rauc-example.conf \
"

inherit systemd allarch

SYSTEMD_SERVICE:${PN} = "example-provision.service"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sbindir} ${D}${systemd_system_unitdir}/rauc.service.d
    install -m 0755 ${UNPACKDIR}/example-provision ${D}${sbindir}/example-provision
    install -m 0644 ${UNPACKDIR}/example-provision.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${UNPACKDIR}/rauc-example.conf ${D}${systemd_system_unitdir}/rauc.service.d/10-example.conf
}

FILES:${PN} += "${systemd_system_unitdir}"
# fw_printenv (U-Boot) or grub-editenv (GRUB) read the old hardware
# revision variable; the image installs the one its bootloader needs.
RDEPENDS:${PN} = "coreutils grep sed"
