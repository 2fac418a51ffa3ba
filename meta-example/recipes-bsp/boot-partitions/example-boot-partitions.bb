SUMMARY = "Boot partitions for Example Device OS (ESP, boot environment)"
DESCRIPTION = "Builds the small vfat partitions the wic layout copies in: \
the EFI system partition with GRUB and the A/B grub.cfg (x86-64), and the \
bootenv partition holding the initial grubenv or uboot.env that RAUC updates."
HOMEPAGE = "https://example.com/ota"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

DEPENDS = "dosfstools-native mtools-native"
DEPENDS:append:x86-64 = " grub-native"
DEPENDS:append:raspberrypi4-64 = " u-boot-tools-native"

SRC_URI = " \
    file://grub.cfg \
    file://uboot-env.txt \
    file://make-uboot-env \
"

inherit deploy nopackages

COMPATIBLE_MACHINE = "(qemux86-64|raspberrypi4-64)"
PACKAGE_ARCH = "${MACHINE_ARCH}"

# Which bootloader reads the environment: GRUB on x86-64, U-Boot elsewhere.
EXAMPLE_BOOTLOADER ??= "uboot"
EXAMPLE_BOOTLOADER:x86-64 = "grub"

# GRUB's EFI binary comes from grub-efi's deploy step; U-Boot's default
# environment (the base of uboot.env, see files/make-uboot-env) from
# U-Boot's, which oe-core's u-boot.inc deploys as UBOOT_INITIAL_ENV.
do_compile[depends] += "${@'grub-efi:do_deploy' if d.getVar('EXAMPLE_BOOTLOADER') == 'grub' else ''}"
do_compile[depends] += "${@'virtual/bootloader:do_deploy' if d.getVar('EXAMPLE_BOOTLOADER') == 'uboot' else ''}"
EXAMPLE_UBOOT_INITIAL_ENV ??= "u-boot-initial-env"

# Size of the U-Boot environment: must match CONFIG_ENV_SIZE of the board's
# U-Boot (0x4000 for the Raspberry Pi configurations).
EXAMPLE_UBOOT_ENV_SIZE ??= "0x4000"

do_configure[noexec] = "1"

# mkfs.vfat with a fixed volume id and mcopy with fixed times keep the
# images reproducible.
make_vfat[doc] = "make_vfat FILE LABEL KIB: an empty FAT image"
make_vfat() {
    rm -f "$1"
    mkfs.vfat -n "$2" -i 0x45584d50 -C "$1" "$3"
}

do_compile() {
    cd ${B}
    if [ "${EXAMPLE_BOOTLOADER}" = "grub" ]; then
        make_vfat example-esp.vfat ESP 32768
        mmd -i example-esp.vfat ::/EFI ::/EFI/BOOT
        mcopy -m -i example-esp.vfat ${DEPLOY_DIR_IMAGE}/grub-efi-bootx64.efi ::/EFI/BOOT/bootx64.efi
        mcopy -m -i example-esp.vfat ${UNPACKDIR}/grub.cfg ::/EFI/BOOT/grub.cfg

        rm -f grubenv
        grub-editenv grubenv create
        # Both slots usable, A first: the state grub.cfg also assumes for
        # an empty environment.
        grub-editenv grubenv set "ORDER=A B" A_OK=1 A_TRY=0 B_OK=1 B_TRY=0
        make_vfat example-bootenv.vfat BOOTENV 8192
        mcopy -m -i example-bootenv.vfat grubenv ::/grubenv
    else
        ${UNPACKDIR}/make-uboot-env ${EXAMPLE_UBOOT_ENV_SIZE} \
            ${DEPLOY_DIR_IMAGE}/${EXAMPLE_UBOOT_INITIAL_ENV} ${UNPACKDIR}/uboot-env.txt uboot.env
        make_vfat example-bootenv.vfat BOOTENV 8192
        mcopy -m -i example-bootenv.vfat uboot.env ::/uboot.env
        mcopy -m -i example-bootenv.vfat uboot.env ::/uboot-redund.env
    fi
}

do_deploy[doc] = "Copies the partition images to DEPLOY_DIR_IMAGE"
do_deploy() {
    install -d ${DEPLOYDIR}
    for f in example-esp.vfat example-bootenv.vfat; do
        if [ -e ${B}/$f ]; then
            install -m 0644 ${B}/$f ${DEPLOYDIR}/$f
        fi
    done
}
addtask deploy after do_compile before do_build
