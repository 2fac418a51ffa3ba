# nooelint: oelint.var.override - refines the required production bundle
SUMMARY = "Example Device OS development update bundle"
# nooelint: oelint.var.override
DESCRIPTION = "Update bundle for development devices: the development \
image (ssh, debug tools, agent in development mode)."

require example-bundle.bb

EXAMPLE_BUNDLE_IMAGE = "example-image-dev"
# nooelint: oelint.var.override
RAUC_BUNDLE_DESCRIPTION = "${DISTRO_NAME} ${DISTRO_VERSION} development (${MACHINE})"
