# bundle_tool.bbclass: RAUC bundles built with the project's bundle-tool.
#
# A drop-in for meta-rauc's bundle.bbclass: a recipe that built bundles
# with "inherit bundle" changes that line to "inherit bundle_tool" and
# keeps its variables. Understood, with meta-rauc's meaning:
#
#   RAUC_BUNDLE_COMPATIBLE  RAUC_BUNDLE_VERSION  RAUC_BUNDLE_DESCRIPTION
#   RAUC_BUNDLE_BUILD       RAUC_BUNDLE_FORMAT   RAUC_BUNDLE_SLOTS
#   RAUC_SLOT_<slot> with flags [name] [type] [fstype] [file] [hooks]
#       [adaptive] [rename] [offset] [depends]
#   RAUC_IMAGE_FSTYPE  RAUC_BUNDLE_HOOKS[file] / [hooks]
#   RAUC_BUNDLE_EXTRA_FILES  RAUC_BUNDLE_EXTRA_DEPENDS
#   RAUC_META_SECTIONS / RAUC_META_<section>[<key>]  RAUC_MANIFEST_EXTRA_LINES
#   RAUC_KEY_FILE  RAUC_CERT_FILE (full paths; the key may be a pkcs11: URI)
#   BUNDLE_ARGS (--intermediate=, --mksquashfs-args="-comp X -b N"; others
#       are refused rather than silently dropped)
#   BUNDLE_BASENAME  BUNDLE_NAME  BUNDLE_LINK_NAME  BUNDLE_EXTENSION
#
# Differences:
#   - RAUC_BUNDLE_FORMAT defaults to "verity" (meta-rauc: plain, with a
#     warning). Devices here refuse plain bundles (bundle-formats=-plain).
#   - RAUC_INTERMEDIATE_CERT_FILE: intermediate certificates to embed.
#   - BUNDLE_TOOL_VERIFY_KEYRING: if set, the new bundle is verified
#     against it before it is deployed.
#   - BUNDLE_TOOL_ARGS: extra bundle-tool create options
#     (--compression, --compression-level, --block-size).
#   - casync (RAUC_CASYNC_BUNDLE), artifact conversion ([convert]) and
#     encryption (RAUC_ENCRYPT_CRYPT_BUNDLE) are not supported: the build
#     stops with a message instead of producing something else.

LICENSE ?= "MIT"
DEPENDS += "bundle-tool-native"
# A bundle has no sources of its own (hooks or extra files in SRC_URI
# land in UNPACKDIR as usual).
# nooelint: oelint.vars.unpackdir - not an unpack location
S = "${WORKDIR}/bundle-sources"

PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit nopackages image-artifact-names

PACKAGES = ""
INHIBIT_DEFAULT_DEPS = "1"

RAUC_BUNDLE_COMPATIBLE ??= "${MACHINE}${TARGET_VENDOR}"
RAUC_BUNDLE_VERSION ??= "${PV}"
RAUC_BUNDLE_DESCRIPTION ??= "${SUMMARY}"
RAUC_BUNDLE_BUILD ??= "${DATETIME}"
RAUC_BUNDLE_BUILD[vardepsexclude] = "DATETIME"
RAUC_BUNDLE_FORMAT ??= "verity"
RAUC_BUNDLE_SLOTS ??= ""
RAUC_IMAGE_FSTYPE ??= "${@(d.getVar('IMAGE_FSTYPES').split() + [''])[0]}"
RAUC_BUNDLE_EXTRA_FILES ??= ""
RAUC_BUNDLE_EXTRA_DEPENDS ??= ""
RAUC_MANIFEST_EXTRA_LINES ??= ""
RAUC_CASYNC_BUNDLE ??= "0"
RAUC_KEY_FILE ??= ""
RAUC_CERT_FILE ??= ""
RAUC_INTERMEDIATE_CERT_FILE ??= ""
BUNDLE_ARGS ??= ""
BUNDLE_TOOL_ARGS ??= ""
BUNDLE_TOOL_VERIFY_KEYRING ??= ""

BUNDLE_BASENAME ??= "${PN}"
BUNDLE_NAME ??= "${BUNDLE_BASENAME}-${MACHINE}-${DATETIME}"
BUNDLE_NAME[vardepsexclude] = "DATETIME"
BUNDLE_LINK_NAME ??= "${BUNDLE_BASENAME}-${MACHINE}"
BUNDLE_EXTENSION ??= ".raucb"

BUNDLE_TOOL_SLOT_FLAGS = "name type fstype file hooks adaptive rename offset depends convert"

# The content directory handed to bundle-tool: manifest.raucm + images.
BUNDLE_DIR = "${WORKDIR}/bundle-content"
B = "${WORKDIR}/build"

do_patch[noexec] = "1"
do_compile[noexec] = "1"
do_install[noexec] = "1"
deltask do_populate_sysroot

def bundle_tool_slots(d):
    """(slot, value, flags) for every entry of RAUC_BUNDLE_SLOTS."""
    wanted = d.getVar('BUNDLE_TOOL_SLOT_FLAGS').split()
    for slot in (d.getVar('RAUC_BUNDLE_SLOTS') or '').split():
        flags = d.getVarFlags('RAUC_SLOT_%s' % slot, expand=wanted) or {}
        flags = {k: v for k, v in flags.items() if k in wanted}
        yield slot, d.getVar('RAUC_SLOT_%s' % slot), flags

# nooelint: oelint.task.noanonpython - task dependencies depend on the slot list
python __anonymous() {
    if d.getVar('RAUC_CASYNC_BUNDLE') == '1':
        bb.fatal('bundle_tool.bbclass: casync bundles (RAUC_CASYNC_BUNDLE) are not supported')
    if d.getVar('RAUC_ENCRYPT_CRYPT_BUNDLE') == '1':
        bb.fatal('bundle_tool.bbclass: crypt bundles (RAUC_ENCRYPT_CRYPT_BUNDLE) are not supported yet')
    if d.getVar('RAUC_BUNDLE_FORMAT') not in ('plain', 'verity'):
        bb.fatal('bundle_tool.bbclass: RAUC_BUNDLE_FORMAT must be plain or verity, not %r'
                 % d.getVar('RAUC_BUNDLE_FORMAT'))

    d.appendVarFlag('do_configure', 'vardeps', ' RAUC_BUNDLE_HOOKS')
    for slot, value, flags in bundle_tool_slots(d):
        if not value:
            bb.fatal('bundle_tool.bbclass: slot %s has no image: set RAUC_SLOT_%s' % (slot, slot))
        if 'convert' in flags:
            bb.fatal('bundle_tool.bbclass: RAUC_SLOT_%s[convert] (artifacts) is not supported' % slot)
        d.appendVarFlag('do_configure', 'vardeps', ' RAUC_SLOT_%s' % slot)
        kind = flags.get('type', 'image')
        if flags.get('depends'):
            dep = flags['depends']
        elif kind == 'image':
            dep = '%s:do_image_complete' % value
        else:
            dep = '%s:do_deploy' % value
        d.appendVarFlag('do_configure', 'depends', ' ' + dep)

    for extra in (d.getVar('RAUC_BUNDLE_EXTRA_DEPENDS') or '').split():
        recipe, _, task = extra.partition(':')
        d.appendVarFlag('do_configure', 'depends', ' %s:%s' % (recipe, task or 'do_deploy'))
}

def bundle_tool_find(d, name):
    """A file from DEPLOY_DIR_IMAGE, else from the recipe's fetched files."""
    import os
    for base in (d.getVar('DEPLOY_DIR_IMAGE'), d.getVar('UNPACKDIR'), d.getVar('WORKDIR')):
        if base:
            path = os.path.join(base, name)
            if os.path.exists(path):
                return path
    return None

def bundle_tool_slot_file(d, slot, value, flags):
    """(source file, name in the bundle) for one slot, as meta-rauc names them."""
    kind = flags.get('type', 'image')
    if kind == 'image':
        fstype = flags.get('fstype') or d.getVar('RAUC_IMAGE_FSTYPE')
        default = '%s%s%s.%s' % (value, d.getVar('IMAGE_MACHINE_SUFFIX'),
                                 d.getVar('IMAGE_NAME_SUFFIX'), fstype)
        source = flags.get('file') or default
        name = source
    elif kind == 'kernel':
        source = flags.get('file') or 'zImage-%s.bin' % d.getVar('MACHINE')
        name = source + '.img'
    elif kind == 'boot':
        source = flags.get('file') or 'barebox.img'
        name = source
    elif kind == 'file':
        source = flags.get('file')
        if not source:
            bb.fatal('bundle_tool.bbclass: RAUC_SLOT_%s[type] = "file" needs [file]' % slot)
        name = source + '.img'
    else:
        bb.fatal('bundle_tool.bbclass: RAUC_SLOT_%s[type] = "%s" is unknown' % (slot, kind))
    return source, flags.get('rename') or name

do_configure[doc] = "Writes manifest.raucm and collects the images into BUNDLE_DIR"
python do_configure() {
    import os, shutil, stat, subprocess

    content = d.getVar('BUNDLE_DIR')
    bb.utils.remove(content, recurse=True)
    bb.utils.mkdirhier(content)

    lines = ['[update]',
             'compatible=%s' % d.getVar('RAUC_BUNDLE_COMPATIBLE'),
             'version=%s' % d.getVar('RAUC_BUNDLE_VERSION'),
             'description=%s' % d.getVar('RAUC_BUNDLE_DESCRIPTION'),
             'build=%s' % d.getVar('RAUC_BUNDLE_BUILD'),
             '',
             '[bundle]',
             'format=%s' % d.getVar('RAUC_BUNDLE_FORMAT'),
             '']

    hooks = d.getVarFlags('RAUC_BUNDLE_HOOKS', expand=['file', 'hooks']) or {}
    hook_file = hooks.get('file')
    if hook_file:
        src = bundle_tool_find(d, hook_file)
        if not src:
            bb.fatal('bundle_tool.bbclass: hook file %s not found (add it to SRC_URI)' % hook_file)
        dst = os.path.join(content, hook_file)
        shutil.copy(src, dst)
        os.chmod(dst, os.stat(dst).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        lines += ['[hooks]', 'filename=%s' % hook_file]
        if hooks.get('hooks'):
            lines.append('hooks=%s' % hooks['hooks'])
        lines.append('')
    elif hooks.get('hooks'):
        bb.warn('bundle_tool.bbclass: RAUC_BUNDLE_HOOKS[hooks] without [file] is ignored')

    for slot, value, flags in bundle_tool_slots(d):
        source, name = bundle_tool_slot_file(d, slot, value, flags)
        name = os.path.basename(name)
        src = bundle_tool_find(d, source)
        if not src:
            bb.fatal('bundle_tool.bbclass: %s for slot %s is neither in DEPLOY_DIR_IMAGE nor fetched'
                     % (source, slot))
        dst = os.path.join(content, name)
        offset = flags.get('offset', '')
        if flags.get('type') == 'boot' and offset not in ('', '0', '+0', '-0'):
            # Positive: pad the front with zeros; negative: cut the front off.
            how = 'skip' if offset.startswith('-') else 'seek'
            subprocess.check_call(['dd', 'if=' + src, 'of=' + dst, 'iflag=skip_bytes',
                                   'oflag=seek_bytes', '%s=%s' % (how, offset.lstrip('+-'))])
        else:
            shutil.copy(src, dst)
        lines += ['[image.%s]' % flags.get('name', slot), 'filename=%s' % name]
        if flags.get('hooks'):
            if not hook_file:
                bb.warn('bundle_tool.bbclass: slot %s has hooks but RAUC_BUNDLE_HOOKS[file] is unset' % slot)
            lines.append('hooks=%s' % flags['hooks'])
        if flags.get('adaptive'):
            lines.append('adaptive=%s' % flags['adaptive'])
        lines.append('')

    for section in (d.getVar('RAUC_META_SECTIONS') or '').split():
        lines.append('[meta.%s]' % section)
        for key, value in sorted((d.getVarFlags('RAUC_META_%s' % section) or {}).items()):
            if not key.startswith('_'):
                lines.append('%s=%s' % (key, d.expand(value)))
        lines.append('')

    for extra in (d.getVar('RAUC_BUNDLE_EXTRA_FILES') or '').split():
        extra = extra.strip('/')
        src = bundle_tool_find(d, extra)
        if not src:
            bb.fatal('bundle_tool.bbclass: extra file %s is neither in DEPLOY_DIR_IMAGE nor fetched' % extra)
        dst = os.path.join(content, extra)
        bb.utils.mkdirhier(os.path.dirname(dst))
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy(src, dst)

    text = '\n'.join(lines) + '\n'
    text += (d.getVar('RAUC_MANIFEST_EXTRA_LINES') or '').replace(r'\n', '\n')
    with open(os.path.join(content, 'manifest.raucm'), 'w') as f:
        f.write(text)
}

def bundle_tool_options(d):
    """bundle-tool create options from the signing variables and BUNDLE_ARGS."""
    import shlex
    opts = []
    for cert in (d.getVar('RAUC_INTERMEDIATE_CERT_FILE') or '').split():
        opts += ['--intermediate', cert]
    args = shlex.split(d.getVar('BUNDLE_ARGS') or '')
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition('=')
        if not eq and name in ('--intermediate', '--mksquashfs-args') and i + 1 < len(args):
            i += 1
            value = args[i]
        if name == '--intermediate':
            opts += ['--intermediate', value]
        elif name == '--mksquashfs-args':
            # Only what has a bundle-tool equivalent: compressor, level, block size.
            sq = shlex.split(value)
            j = 0
            while j < len(sq):
                if sq[j] == '-comp' and j + 1 < len(sq):
                    opts += ['--compression', sq[j + 1]]
                    j += 1
                elif sq[j] in ('-Xcompression-level', '-Xlevel') and j + 1 < len(sq):
                    opts += ['--compression-level', sq[j + 1]]
                    j += 1
                elif sq[j] == '-b' and j + 1 < len(sq):
                    size = sq[j + 1].upper()
                    mult = {'K': 1024, 'M': 1024 * 1024}.get(size[-1:], 1)
                    opts += ['--block-size', str(int(size.rstrip('KM')) * mult)]
                    j += 1
                else:
                    bb.fatal('bundle_tool.bbclass: mksquashfs option %s has no bundle-tool equivalent; '
                             'use BUNDLE_TOOL_ARGS' % sq[j])
                j += 1
        elif name in ('--debug', '--no-verify'):
            pass
        else:
            bb.fatal('bundle_tool.bbclass: BUNDLE_ARGS option %s is not understood; use BUNDLE_TOOL_ARGS' % arg)
        i += 1
    keyring = d.getVar('BUNDLE_TOOL_VERIFY_KEYRING')
    if keyring:
        opts += ['--keyring', keyring]
    opts += shlex.split(d.getVar('BUNDLE_TOOL_ARGS') or '')
    return ' '.join(shlex.quote(o) for o in opts)

def bundle_tool_file_checksums(d):
    """Rebuild when a key, certificate or keyring file changes (not for pkcs11: URIs)."""
    import os
    names = [d.getVar('RAUC_KEY_FILE'), d.getVar('RAUC_CERT_FILE'), d.getVar('BUNDLE_TOOL_VERIFY_KEYRING')]
    names += (d.getVar('RAUC_INTERMEDIATE_CERT_FILE') or '').split()
    return ' '.join('%s:True' % n for n in names if n and os.path.isfile(n))

BUNDLE_TOOL_OPTIONS = "${@bundle_tool_options(d)}"

do_bundle() {
    if [ -z "${RAUC_KEY_FILE}" ] || [ -z "${RAUC_CERT_FILE}" ]; then
        bbfatal "RAUC_KEY_FILE and RAUC_CERT_FILE must name the signing key and certificate (see docs/yocto.md, 'Keys')"
    fi
    rm -f ${B}/bundle.raucb
    bundle-tool --quiet create \
        --cert "${RAUC_CERT_FILE}" \
        --key "${RAUC_KEY_FILE}" \
        --format ${RAUC_BUNDLE_FORMAT} \
        ${BUNDLE_TOOL_OPTIONS} \
        ${BUNDLE_DIR} ${B}/bundle.raucb
}
do_bundle[doc] = "Creates and signs the bundle with bundle-tool"
do_bundle[dirs] = "${B}"
do_bundle[cleandirs] = "${B}"
do_bundle[file-checksums] += "${@bundle_tool_file_checksums(d)}"
# PKCS#11 keys (RAUC_KEY_FILE = "pkcs11:..."): the token library and PIN
# come from the environment, as for rauc; kas forwards them.
export RAUC_PKCS11_MODULE
export RAUC_PKCS11_PIN
do_bundle[vardepsexclude] += "RAUC_PKCS11_MODULE RAUC_PKCS11_PIN"
addtask bundle after do_configure

inherit deploy

SSTATE_SKIP_CREATION:task-deploy = "1"

do_deploy[doc] = "Copies the bundle to DEPLOY_DIR_IMAGE"
do_deploy() {
    install -d ${DEPLOYDIR}
    install -m 0644 ${B}/bundle.raucb ${DEPLOYDIR}/${BUNDLE_NAME}${BUNDLE_EXTENSION}
    ln -sf ${BUNDLE_NAME}${BUNDLE_EXTENSION} ${DEPLOYDIR}/${BUNDLE_LINK_NAME}${BUNDLE_EXTENSION}
}
addtask deploy after do_bundle before do_build
