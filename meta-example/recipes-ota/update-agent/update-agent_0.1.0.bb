SUMMARY = "Example Device update agent"
DESCRIPTION = "Polls the hawkBit-compatible update server, installs bundles \
through RAUC's D-Bus API, and reports the result."

require example-ota-workspace.inc
# Crates from Cargo.lock (ci/crates-inc).
require update-agent-crates.inc

# update-agent-check-bundle (installed beside the agent; it checks local
# uploads) links the bundle library: OpenSSL and libsquashfs. The daemon
# itself links neither.
DEPENDS += "openssl pkgconfig-native squashfs-tools-ng"

SRC_URI:append = " \
    file://agent.toml \
    file://update-agent.service \
    file://update-agent-health.service \
"

inherit systemd

SYSTEMD_SERVICE:${PN} = "update-agent.service update-agent-health.service"

do_install:append() {
    install -d ${D}${sysconfdir}/update-agent ${D}${systemd_system_unitdir}
    install -m 0644 ${UNPACKDIR}/agent.toml ${D}${sysconfdir}/update-agent/agent.toml
    install -m 0644 ${UNPACKDIR}/update-agent.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${UNPACKDIR}/update-agent-health.service ${D}${systemd_system_unitdir}/
}

CONFFILES:${PN} = "${sysconfdir}/update-agent/agent.toml"
FILES:${PN} += "${systemd_system_unitdir}"
RDEPENDS:${PN} = "example-provision rauc"
# rauc-mark-good confirms a slot only after boot-complete.target, which
# update-agent-health.service gates.
RRECOMMENDS:${PN} = "rauc-mark-good"
