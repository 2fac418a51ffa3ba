# Modules grub.cfg needs, built into the EFI binary (the ESP carries no
# module directory): squash4 reads the kernel from a squashfs root slot,
# regexp finds the boot disk, sleep and reboot handle "no slot left".
GRUB_BUILDIN:append = " squash4 regexp sleep reboot serial terminal echo"
