SUMMARY = "U-Boot environment location for fw_printenv/fw_setenv (RAUC)"
DESCRIPTION = "Tells libubootenv where the U-Boot environment is: the redundant \
pair uboot.env and uboot-redund.env on the bootenv partition, mounted at \
/bootenv. RAUC's uboot backend uses fw_setenv and fw_printenv with this file."
HOMEPAGE = "https://example.com/ota"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://fw_env.config"

# Only boards booted by U-Boot.
COMPATIBLE_MACHINE = "(raspberrypi4-64)"
PACKAGE_ARCH = "${MACHINE_ARCH}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sysconfdir}
    install -m 0644 ${UNPACKDIR}/fw_env.config ${D}${sysconfdir}/fw_env.config
}

RDEPENDS:${PN} = "u-boot-fw-utils"
