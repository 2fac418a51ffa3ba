# nooelint: oelint.var.override - refines the required production image
SUMMARY = "Example Device OS, development variant"
# nooelint: oelint.var.override
DESCRIPTION = "The production image plus ssh, debugging tools, passwordless \
root login and the update agent in development mode. Never ship it."

require example-image.bb

# The four features debug-tweaks used to stand for (walnascar split it up;
# scarthgap knows the separate names too).
# nooelint: oelint.var.badimagefeature.allow-empty-password,oelint.var.badimagefeature.allow-root-login,oelint.var.badimagefeature.empty-root-password,oelint.var.badimagefeature.post-install-logging,oelint.var.badimagefeature.tools-debug,oelint.vars.inconspaces
IMAGE_FEATURES += " \
    allow-empty-password \
    allow-root-login \
    empty-root-password \
    post-install-logging \
    ssh-server-openssh \
    tools-debug \
"

IMAGE_INSTALL:append = " \
    strace \
    less \
    htop \
    iproute2 \
    ethtool \
"

ROOTFS_POSTPROCESS_COMMAND += "example_agent_development_mode"

# Flip the agent's development switch ([development] enabled in agent.toml).
example_agent_development_mode[doc] = "Sets development = true in the agent configuration"
example_agent_development_mode() {
    conf=${IMAGE_ROOTFS}${sysconfdir}/update-agent/agent.toml
    sed -i '/^\[development\]/,/^\[/ s/^enabled = false$/enabled = true/' "$conf"
    if ! sed -n '/^\[development\]/,/^\[/p' "$conf" | grep -q '^enabled = true$'; then
        bbfatal "cannot switch the agent to development mode: no '[development] enabled = false' in $conf"
    fi
}
