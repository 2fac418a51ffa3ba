//! Minimal hand-written bindings to libsquashfs 1.x (squashfs-tools-ng,
//! Debian package `libsquashfs-dev`) plus thin owning wrappers.
//!
//! Why FFI at all: libsquashfs is the only maintained squashfs writer that we
//! can drive from Rust with *parallel* compression (its block processor runs
//! `num_workers` compressor threads and writes blocks back in order), and it
//! reads images too. The `squashfs-ng` crate wraps the same library but
//! hard-codes zstd and the default block size in its writer, so it cannot
//! produce RAUC's gzip images.
//!
//! Why hand-written instead of bindgen: we use ~40 functions and 8 structs of
//! a stable C ABI (the same since libsquashfs 1.0); declaring them here keeps
//! bindgen/libclang out of the build. Struct layouts were transcribed from
//! `/usr/include/sqfs/*.h` of libsquashfs 1.2.0 and are checked by the size
//! assertions below and by the round-trip tests in the parent module.
//!
//! Everything `unsafe` in the squashfs module lives in this file; the parent
//! module only sees the safe types [`IoFile`], [`RawWriter`], [`RawImage`] and
//! [`Inode`].
#![allow(unsafe_code)] // FFI to libsquashfs; see the module documentation.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::ptr::{self, NonNull};
use std::sync::Mutex;

// ---------------------------------------------------------------------------
// Raw declarations (layouts from libsquashfs 1.2.0 headers).
// ---------------------------------------------------------------------------

#[repr(C)]
struct sqfs_object_t {
    destroy: Option<unsafe extern "C" fn(*mut sqfs_object_t)>,
    copy: Option<unsafe extern "C" fn(*const sqfs_object_t) -> *mut sqfs_object_t>,
}

#[repr(C)]
struct sqfs_file_t {
    base: sqfs_object_t,
    read_at: Option<unsafe extern "C" fn(*mut sqfs_file_t, u64, *mut c_void, usize) -> c_int>,
    write_at: Option<unsafe extern "C" fn(*mut sqfs_file_t, u64, *const c_void, usize) -> c_int>,
    get_size: Option<unsafe extern "C" fn(*const sqfs_file_t) -> u64>,
    truncate: Option<unsafe extern "C" fn(*mut sqfs_file_t, u64) -> c_int>,
}

#[repr(C)]
struct sqfs_compressor_t {
    base: sqfs_object_t,
    get_configuration:
        Option<unsafe extern "C" fn(*const sqfs_compressor_t, *mut sqfs_compressor_config_t)>,
    write_options: Option<unsafe extern "C" fn(*mut sqfs_compressor_t, *mut sqfs_file_t) -> c_int>,
    read_options: Option<unsafe extern "C" fn(*mut sqfs_compressor_t, *mut sqfs_file_t) -> c_int>,
    do_block:
        Option<unsafe extern "C" fn(*mut sqfs_compressor_t, *const u8, u32, *mut u8, u32) -> i32>,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_compressor_config_t {
    id: u16,
    flags: u16,
    block_size: u32,
    level: u32,
    /// Union of per-compressor options; we keep the library defaults.
    opt: [u64; 2],
}

/// The on-disk superblock (little-endian host assumed, as everywhere we run).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct sqfs_super_t {
    pub magic: u32,
    pub inode_count: u32,
    pub modification_time: u32,
    pub block_size: u32,
    pub fragment_entry_count: u32,
    pub compression_id: u16,
    pub block_log: u16,
    pub flags: u16,
    pub id_count: u16,
    pub version_major: u16,
    pub version_minor: u16,
    pub root_inode_ref: u64,
    pub bytes_used: u64,
    pub id_table_start: u64,
    pub xattr_id_table_start: u64,
    pub inode_table_start: u64,
    pub directory_table_start: u64,
    pub fragment_table_start: u64,
    pub export_table_start: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_inode_t {
    type_: u16,
    mode: u16,
    uid_idx: u16,
    gid_idx: u16,
    mod_time: u32,
    inode_number: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_inode_file_ext_t {
    blocks_start: u64,
    file_size: u64,
    sparse: u64,
    nlink: u32,
    fragment_idx: u32,
    fragment_offset: u32,
    xattr_idx: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_inode_dir_t {
    start_block: u32,
    nlink: u32,
    size: u16,
    offset: u16,
    parent_inode: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_inode_dir_ext_t {
    nlink: u32,
    size: u32,
    start_block: u32,
    parent_inode: u32,
    inodex_count: u16,
    offset: u16,
    xattr_idx: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sqfs_inode_slink_t {
    nlink: u32,
    target_size: u32,
}

#[repr(C)]
union sqfs_inode_data {
    file_ext: sqfs_inode_file_ext_t,
    dir: sqfs_inode_dir_t,
    dir_ext: sqfs_inode_dir_ext_t,
    slink: sqfs_inode_slink_t,
    _largest: [u64; 5],
}

#[repr(C)]
struct sqfs_inode_generic_t {
    base: sqfs_inode_t,
    payload_bytes_available: u32,
    payload_bytes_used: u32,
    data: sqfs_inode_data,
    // followed by a flexible `sqfs_u32 extra[]`
}

#[repr(C)]
struct sqfs_dir_entry_t {
    offset: u16,
    inode_diff: i16,
    type_: u16,
    size: u16,
    // followed by `sqfs_u8 name[size + 1]` (not NUL terminated)
}

// Layout checks against the C headers (sizeof values computed with gcc).
const _: () = assert!(std::mem::size_of::<sqfs_super_t>() == 96);
const _: () = assert!(std::mem::size_of::<sqfs_compressor_config_t>() == 32);
const _: () = assert!(std::mem::size_of::<sqfs_inode_t>() == 16);
const _: () = assert!(std::mem::size_of::<sqfs_inode_generic_t>() == 64);
const _: () = assert!(std::mem::size_of::<sqfs_file_t>() == 48);
const _: () = assert!(std::mem::size_of::<sqfs_compressor_t>() == 48);
const _: () = assert!(std::mem::size_of::<sqfs_dir_entry_t>() == 8);

macro_rules! opaque {
    ($($name:ident),*) => { $( #[repr(C)] struct $name { _private: [u8; 0] } )* };
}
opaque!(
    sqfs_block_processor_t,
    sqfs_block_writer_t,
    sqfs_frag_table_t,
    sqfs_id_table_t,
    sqfs_meta_writer_t,
    sqfs_dir_writer_t,
    sqfs_dir_reader_t,
    sqfs_data_reader_t
);

pub(super) const SQFS_COMP_GZIP: u16 = 1;
pub(super) const SQFS_COMP_XZ: u16 = 4;
pub(super) const SQFS_COMP_ZSTD: u16 = 6;

const SQFS_FLAG_NO_XATTRS: u16 = 0x0200;
const SQFS_FLAG_COMPRESSOR_OPTIONS: u16 = 0x0400;
const SQFS_COMP_FLAG_UNCOMPRESS: u16 = 0x8000;
const SQFS_META_WRITER_KEEP_IN_MEMORY: u32 = 0x01;
const SQFS_DIR_WRITER_CREATE_EXPORT_TABLE: u32 = 0x01;

pub(super) const SQFS_INODE_DIR: u16 = 1;
pub(super) const SQFS_INODE_FILE: u16 = 2;
pub(super) const SQFS_INODE_SLINK: u16 = 3;
pub(super) const SQFS_INODE_EXT_DIR: u16 = 8;
pub(super) const SQFS_INODE_EXT_FILE: u16 = 9;
pub(super) const SQFS_INODE_EXT_SLINK: u16 = 10;

const SQFS_ERROR_IO: c_int = -2;
const SQFS_ERROR_COMPRESSOR: c_int = -3;
const SQFS_ERROR_OUT_OF_BOUNDS: c_int = -8;

#[link(name = "squashfs")]
extern "C" {
    fn sqfs_free(ptr: *mut c_void);

    fn sqfs_super_init(sup: *mut sqfs_super_t, block_size: usize, mtime: u32, comp: c_int)
        -> c_int;
    fn sqfs_super_write(sup: *const sqfs_super_t, file: *mut sqfs_file_t) -> c_int;
    fn sqfs_super_read(sup: *mut sqfs_super_t, file: *mut sqfs_file_t) -> c_int;

    fn sqfs_compressor_config_init(
        cfg: *mut sqfs_compressor_config_t,
        id: c_int,
        block_size: usize,
        flags: u16,
    ) -> c_int;
    fn sqfs_compressor_create(
        cfg: *const sqfs_compressor_config_t,
        out: *mut *mut sqfs_compressor_t,
    ) -> c_int;

    fn sqfs_block_writer_create(
        file: *mut sqfs_file_t,
        devblksz: usize,
        flags: u32,
    ) -> *mut sqfs_block_writer_t;
    fn sqfs_frag_table_create(flags: u32) -> *mut sqfs_frag_table_t;
    fn sqfs_frag_table_write(
        tbl: *mut sqfs_frag_table_t,
        file: *mut sqfs_file_t,
        sup: *mut sqfs_super_t,
        cmp: *mut sqfs_compressor_t,
    ) -> c_int;
    fn sqfs_block_processor_create(
        max_block_size: usize,
        cmp: *mut sqfs_compressor_t,
        num_workers: c_uint,
        max_backlog: usize,
        wr: *mut sqfs_block_writer_t,
        tbl: *mut sqfs_frag_table_t,
    ) -> *mut sqfs_block_processor_t;
    fn sqfs_block_processor_begin_file(
        proc_: *mut sqfs_block_processor_t,
        inode: *mut *mut sqfs_inode_generic_t,
        user: *mut c_void,
        flags: u32,
    ) -> c_int;
    fn sqfs_block_processor_append(
        proc_: *mut sqfs_block_processor_t,
        data: *const c_void,
        size: usize,
    ) -> c_int;
    fn sqfs_block_processor_end_file(proc_: *mut sqfs_block_processor_t) -> c_int;
    fn sqfs_block_processor_finish(proc_: *mut sqfs_block_processor_t) -> c_int;

    fn sqfs_id_table_create(flags: u32) -> *mut sqfs_id_table_t;
    fn sqfs_id_table_id_to_index(tbl: *mut sqfs_id_table_t, id: u32, out: *mut u16) -> c_int;
    fn sqfs_id_table_write(
        tbl: *mut sqfs_id_table_t,
        file: *mut sqfs_file_t,
        sup: *mut sqfs_super_t,
        cmp: *mut sqfs_compressor_t,
    ) -> c_int;

    fn sqfs_meta_writer_create(
        file: *mut sqfs_file_t,
        cmp: *mut sqfs_compressor_t,
        flags: u32,
    ) -> *mut sqfs_meta_writer_t;
    fn sqfs_meta_writer_flush(m: *mut sqfs_meta_writer_t) -> c_int;
    fn sqfs_meta_writer_get_position(
        m: *const sqfs_meta_writer_t,
        block_start: *mut u64,
        offset: *mut u32,
    );
    fn sqfs_meta_write_write_to_file(m: *mut sqfs_meta_writer_t) -> c_int;
    fn sqfs_meta_writer_write_inode(
        m: *mut sqfs_meta_writer_t,
        n: *const sqfs_inode_generic_t,
    ) -> c_int;

    fn sqfs_dir_writer_create(dm: *mut sqfs_meta_writer_t, flags: u32) -> *mut sqfs_dir_writer_t;
    fn sqfs_dir_writer_begin(w: *mut sqfs_dir_writer_t, flags: u32) -> c_int;
    fn sqfs_dir_writer_add_entry(
        w: *mut sqfs_dir_writer_t,
        name: *const c_char,
        inode_num: u32,
        inode_ref: u64,
        mode: u16,
    ) -> c_int;
    fn sqfs_dir_writer_end(w: *mut sqfs_dir_writer_t) -> c_int;
    fn sqfs_dir_writer_create_inode(
        w: *const sqfs_dir_writer_t,
        hlinks: usize,
        xattr: u32,
        parent_ino: u32,
    ) -> *mut sqfs_inode_generic_t;
    fn sqfs_dir_writer_write_export_table(
        w: *mut sqfs_dir_writer_t,
        file: *mut sqfs_file_t,
        cmp: *mut sqfs_compressor_t,
        root_inode_num: u32,
        root_inode_ref: u64,
        sup: *mut sqfs_super_t,
    ) -> c_int;

    fn sqfs_inode_get_file_size(inode: *const sqfs_inode_generic_t, size: *mut u64) -> c_int;
    fn sqfs_inode_make_basic(inode: *mut sqfs_inode_generic_t) -> c_int;

    fn sqfs_dir_reader_create(
        sup: *const sqfs_super_t,
        cmp: *mut sqfs_compressor_t,
        file: *mut sqfs_file_t,
        flags: u32,
    ) -> *mut sqfs_dir_reader_t;
    fn sqfs_dir_reader_open_dir(
        rd: *mut sqfs_dir_reader_t,
        inode: *const sqfs_inode_generic_t,
        flags: u32,
    ) -> c_int;
    fn sqfs_dir_reader_read(rd: *mut sqfs_dir_reader_t, out: *mut *mut sqfs_dir_entry_t) -> c_int;
    fn sqfs_dir_reader_get_inode(
        rd: *mut sqfs_dir_reader_t,
        inode: *mut *mut sqfs_inode_generic_t,
    ) -> c_int;
    fn sqfs_dir_reader_get_root_inode(
        rd: *mut sqfs_dir_reader_t,
        inode: *mut *mut sqfs_inode_generic_t,
    ) -> c_int;

    fn sqfs_data_reader_create(
        file: *mut sqfs_file_t,
        block_size: usize,
        cmp: *mut sqfs_compressor_t,
        flags: u32,
    ) -> *mut sqfs_data_reader_t;
    fn sqfs_data_reader_load_fragment_table(
        data: *mut sqfs_data_reader_t,
        sup: *const sqfs_super_t,
    ) -> c_int;
    fn sqfs_data_reader_read(
        data: *mut sqfs_data_reader_t,
        inode: *const sqfs_inode_generic_t,
        offset: u64,
        buffer: *mut c_void,
        size: u32,
    ) -> i32;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A failed libsquashfs call: which operation, the library's error code, and
/// the underlying I/O error if the failure came from our file callbacks.
#[derive(Debug)]
pub(super) struct SqfsError {
    pub op: &'static str,
    pub code: i32,
    pub io: Option<io::Error>,
}

impl SqfsError {
    pub fn describe(&self) -> String {
        let what = match self.code {
            -1 => "out of memory",
            -2 => "I/O error",
            -3 => "compressor error",
            -4 => "internal error",
            -5 => "corrupted image",
            -6 => "unsupported feature",
            -7 => "size overflow",
            -8 => "out of bounds access",
            -9 => "bad superblock magic",
            -10 => "unsupported squashfs version",
            -11 => "invalid block size",
            -12 => "not a directory",
            -13 => "no such entry",
            -14 => "hard link loop",
            -15 => "not a regular file",
            -16 => "invalid argument",
            -17 => "library calls out of sequence",
            _ => "unknown libsquashfs error",
        };
        match &self.io {
            Some(e) => format!("{}: {what} ({}): {e}", self.op, self.code),
            None => format!("{}: {what} ({})", self.op, self.code),
        }
    }
}

pub(super) type FfiResult<T> = Result<T, SqfsError>;

fn check(file: &IoFile, op: &'static str, ret: c_int) -> FfiResult<()> {
    if ret < 0 {
        Err(SqfsError {
            op,
            code: ret,
            io: file.take_error(),
        })
    } else {
        Ok(())
    }
}

fn non_null<T>(op: &'static str, p: *mut T) -> FfiResult<NonNull<T>> {
    NonNull::new(p).ok_or(SqfsError {
        op,
        code: -1,
        io: None,
    })
}

/// Destroys any libsquashfs object (they all start with `sqfs_object_t`).
///
/// # Safety
/// `obj` must be null or a live libsquashfs object not used afterwards.
unsafe fn destroy<T>(obj: *mut T) {
    let obj = obj as *mut sqfs_object_t;
    if !obj.is_null() {
        if let Some(d) = (*obj).destroy {
            d(obj);
        }
    }
}

// ---------------------------------------------------------------------------
// IoFile: a sqfs_file_t implemented on top of std::fs::File
// ---------------------------------------------------------------------------

struct IoState {
    /// Current logical size (writer) or the readable bound (reader).
    size: u64,
    /// Reads beyond this offset fail with SQFS_ERROR_OUT_OF_BOUNDS.
    limit: u64,
    error: Option<io::Error>,
}

/// Our own `sqfs_file_t`: gives us real `io::Error`s, a hard read bound (the
/// bundle continues after the image), and access to the `File` for fsync.
/// `vt` must stay the first field: libsquashfs only sees a pointer to it.
#[repr(C)]
pub(super) struct IoFile {
    vt: sqfs_file_t,
    file: File,
    state: Mutex<IoState>,
}

impl IoFile {
    /// Boxed so the address handed to libsquashfs never moves.
    pub fn new(file: File, size: u64, limit: u64) -> Box<IoFile> {
        Box::new(IoFile {
            vt: sqfs_file_t {
                base: sqfs_object_t {
                    destroy: Some(io_destroy),
                    copy: None,
                },
                read_at: Some(io_read_at),
                write_at: Some(io_write_at),
                get_size: Some(io_get_size),
                truncate: Some(io_truncate),
            },
            file,
            state: Mutex::new(IoState {
                size,
                limit,
                error: None,
            }),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn size(&self) -> u64 {
        self.lock().size
    }

    fn set_bounds(&self, size: u64, limit: u64) {
        let mut st = self.lock();
        st.size = size;
        st.limit = limit;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IoState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_error(&self) -> Option<io::Error> {
        self.lock().error.take()
    }

    fn raw(&self) -> *mut sqfs_file_t {
        // libsquashfs takes `sqfs_file_t *` even for reads; our callbacks only
        // touch `state` through the Mutex, so handing out a mutable pointer to
        // a shared IoFile is sound.
        &self.vt as *const sqfs_file_t as *mut sqfs_file_t
    }
}

/// # Safety
/// `f` is always a pointer to the `vt` field of a live `IoFile` (first field
/// of a `#[repr(C)]` struct), because only `IoFile::raw` hands it out.
unsafe fn io_of<'a>(f: *const sqfs_file_t) -> &'a IoFile {
    &*(f as *const IoFile)
}

unsafe extern "C" fn io_destroy(_: *mut sqfs_object_t) {
    // Owned by Rust (Box<IoFile>); libsquashfs never owns our file.
}

unsafe extern "C" fn io_read_at(
    f: *mut sqfs_file_t,
    offset: u64,
    buf: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: see io_of.
    let io = io_of(f);
    let mut st = io.lock();
    match offset.checked_add(size as u64) {
        Some(end) if end <= st.limit => {}
        _ => return SQFS_ERROR_OUT_OF_BOUNDS,
    }
    if size == 0 {
        return 0;
    }
    // SAFETY: libsquashfs passes a writable buffer of `size` bytes.
    let out = std::slice::from_raw_parts_mut(buf as *mut u8, size);
    match io.file.read_exact_at(out, offset) {
        Ok(()) => 0,
        Err(e) => {
            st.error = Some(e);
            SQFS_ERROR_IO
        }
    }
}

unsafe extern "C" fn io_write_at(
    f: *mut sqfs_file_t,
    offset: u64,
    buf: *const c_void,
    size: usize,
) -> c_int {
    // SAFETY: see io_of.
    let io = io_of(f);
    let mut st = io.lock();
    if size == 0 {
        return 0;
    }
    // SAFETY: libsquashfs passes a readable buffer of `size` bytes.
    let data = std::slice::from_raw_parts(buf as *const u8, size);
    match io.file.write_all_at(data, offset) {
        Ok(()) => {
            st.size = st.size.max(offset + size as u64);
            0
        }
        Err(e) => {
            st.error = Some(e);
            SQFS_ERROR_IO
        }
    }
}

unsafe extern "C" fn io_get_size(f: *const sqfs_file_t) -> u64 {
    // SAFETY: see io_of.
    io_of(f).lock().size
}

unsafe extern "C" fn io_truncate(f: *mut sqfs_file_t, size: u64) -> c_int {
    // SAFETY: see io_of.
    let io = io_of(f);
    let mut st = io.lock();
    match io.file.set_len(size) {
        Ok(()) => {
            st.size = size;
            0
        }
        Err(e) => {
            st.error = Some(e);
            SQFS_ERROR_IO
        }
    }
}

// ---------------------------------------------------------------------------
// Compressor
// ---------------------------------------------------------------------------

struct Compressor(NonNull<sqfs_compressor_t>);

impl Compressor {
    fn new(
        file: &IoFile,
        id: u16,
        block_size: u32,
        level: Option<u32>,
        uncompress: bool,
    ) -> FfiResult<Compressor> {
        let flags = if uncompress {
            SQFS_COMP_FLAG_UNCOMPRESS
        } else {
            0
        };
        let mut cfg = sqfs_compressor_config_t {
            id: 0,
            flags: 0,
            block_size: 0,
            level: 0,
            opt: [0; 2],
        };
        // SAFETY: cfg is a valid, writable config struct.
        let r = unsafe {
            sqfs_compressor_config_init(&mut cfg, c_int::from(id), block_size as usize, flags)
        };
        check(file, "configuring compressor", r)?;
        if let Some(level) = level {
            cfg.level = level;
        }
        let mut out = ptr::null_mut();
        // SAFETY: cfg is initialised; out receives a new object or stays null.
        let r = unsafe { sqfs_compressor_create(&cfg, &mut out) };
        check(file, "creating compressor", r)?;
        let inner = non_null("creating compressor", out)?;
        if id == SQFS_COMP_GZIP && !uncompress {
            return Ok(Compressor(RustDeflate::wrap(inner, cfg.level)));
        }
        Ok(Compressor(inner))
    }

    fn raw(&self) -> *mut sqfs_compressor_t {
        self.0.as_ptr()
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: we own the compressor and nothing references it any more
        // (owners drop the objects using it first).
        unsafe { destroy(self.0.as_ptr()) }
    }
}

/// A gzip `sqfs_compressor_t` whose `do_block` deflates with zlib-rs (via
/// flate2) instead of the system zlib libsquashfs links: at level 9 it is
/// about twice as fast on typical root filesystems, which is most of the
/// bundle creation time. The output is the same format (a zlib stream with a
/// 32 KiB window, the squashfs "gzip" compressor), so kernel, unsquashfs and
/// RAUC read it like mksquashfs output; only the exact compressed bytes (and
/// sizes, within about 1%) differ. Configuration and the on-disk compressor
/// options are delegated to the libsquashfs gzip compressor we wrap, so
/// non-default levels are recorded exactly as libsquashfs would.
///
/// libsquashfs gives every block-processor worker its own copy (through the
/// object's `copy` hook), so one instance is only ever used by one thread.
/// `vt` must stay the first field.
#[repr(C)]
struct RustDeflate {
    vt: sqfs_compressor_t,
    /// Owned libsquashfs gzip compressor with the same configuration.
    inner: NonNull<sqfs_compressor_t>,
    level: u32,
    deflate: flate2::Compress,
}

impl RustDeflate {
    fn wrap(inner: NonNull<sqfs_compressor_t>, level: u32) -> NonNull<sqfs_compressor_t> {
        let b = Box::new(RustDeflate {
            vt: sqfs_compressor_t {
                base: sqfs_object_t {
                    destroy: Some(rd_destroy),
                    copy: Some(rd_copy),
                },
                get_configuration: Some(rd_get_configuration),
                write_options: Some(rd_write_options),
                read_options: Some(rd_read_options),
                do_block: Some(rd_do_block),
            },
            inner,
            level,
            deflate: flate2::Compress::new(flate2::Compression::new(level.min(9)), true),
        });
        // Box::into_raw never returns null; `vt` is at offset 0.
        NonNull::from(Box::leak(b)).cast()
    }
}

/// # Safety
/// `p` must point to the `vt` of a live `RustDeflate` (only `wrap` and
/// `rd_copy` create objects with these callbacks).
unsafe fn rd_of<'a>(p: *const sqfs_compressor_t) -> &'a mut RustDeflate {
    &mut *(p as *mut RustDeflate)
}

unsafe extern "C" fn rd_destroy(obj: *mut sqfs_object_t) {
    // SAFETY: created by Box::leak in `wrap`; destroyed exactly once.
    let b = Box::from_raw(obj as *mut RustDeflate);
    destroy(b.inner.as_ptr());
}

unsafe extern "C" fn rd_copy(obj: *const sqfs_object_t) -> *mut sqfs_object_t {
    // SAFETY: see rd_of.
    let me = rd_of(obj as *const sqfs_compressor_t);
    let inner = me.inner.as_ptr() as *const sqfs_object_t;
    let copy = match (*inner).copy {
        Some(c) => c(inner),
        None => ptr::null_mut(),
    };
    match NonNull::new(copy as *mut sqfs_compressor_t) {
        Some(c) => RustDeflate::wrap(c, me.level).as_ptr() as *mut sqfs_object_t,
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn rd_get_configuration(
    cmp: *const sqfs_compressor_t,
    cfg: *mut sqfs_compressor_config_t,
) {
    // SAFETY: see rd_of; the inner compressor implements every hook.
    let inner = rd_of(cmp).inner.as_ptr();
    if let Some(f) = (*inner).get_configuration {
        f(inner, cfg);
    }
}

unsafe extern "C" fn rd_write_options(
    cmp: *mut sqfs_compressor_t,
    file: *mut sqfs_file_t,
) -> c_int {
    // SAFETY: as above.
    let inner = rd_of(cmp).inner.as_ptr();
    match (*inner).write_options {
        Some(f) => f(inner, file),
        None => 0,
    }
}

unsafe extern "C" fn rd_read_options(cmp: *mut sqfs_compressor_t, file: *mut sqfs_file_t) -> c_int {
    // SAFETY: as above.
    let inner = rd_of(cmp).inner.as_ptr();
    match (*inner).read_options {
        Some(f) => f(inner, file),
        None => 0,
    }
}

/// Compresses `size` bytes into at most `outsize`; returns the compressed
/// length, or 0 when the result would not be smaller than the input (the
/// block is then stored uncompressed), as libsquashfs's own compressors do.
unsafe extern "C" fn rd_do_block(
    cmp: *mut sqfs_compressor_t,
    input: *const u8,
    size: u32,
    out: *mut u8,
    outsize: u32,
) -> i32 {
    // SAFETY: see rd_of; this instance belongs to the calling thread.
    let me = rd_of(cmp);
    if size == 0 || outsize == 0 {
        return 0;
    }
    // SAFETY: libsquashfs passes valid, non-overlapping buffers of these sizes.
    let input = std::slice::from_raw_parts(input, size as usize);
    let out = std::slice::from_raw_parts_mut(out, outsize as usize);
    me.deflate.reset();
    match me
        .deflate
        .compress(input, out, flate2::FlushCompress::Finish)
    {
        Ok(flate2::Status::StreamEnd) => {
            let n = me.deflate.total_out();
            if n < u64::from(size) {
                n as i32
            } else {
                0
            }
        }
        // Ran out of output space: not compressible enough.
        Ok(_) => 0,
        Err(_) => SQFS_ERROR_COMPRESSOR,
    }
}

/// Owns a libsquashfs object and destroys it on drop.
struct Obj<T>(NonNull<T>);

impl<T> Obj<T> {
    fn new(op: &'static str, p: *mut T) -> FfiResult<Obj<T>> {
        non_null(op, p).map(Obj)
    }
    fn raw(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T> Drop for Obj<T> {
    fn drop(&mut self) {
        // SAFETY: we own the object; see the field order notes on its owner.
        unsafe { destroy(self.0.as_ptr()) }
    }
}

/// An inode allocated by libsquashfs (malloc'd; freed with `sqfs_free`).
pub(super) struct Inode(NonNull<sqfs_inode_generic_t>);

impl Drop for Inode {
    fn drop(&mut self) {
        // SAFETY: allocated by libsquashfs with malloc, owned by us.
        unsafe { sqfs_free(self.0.as_ptr() as *mut c_void) }
    }
}

impl Inode {
    fn from_raw(op: &'static str, p: *mut sqfs_inode_generic_t) -> FfiResult<Inode> {
        non_null(op, p).map(Inode)
    }

    fn base(&self) -> sqfs_inode_t {
        // SAFETY: a live inode; base is always initialised.
        unsafe { self.0.as_ref().base }
    }

    /// The SQFS_INODE_* type.
    pub fn kind(&self) -> u16 {
        self.base().type_
    }

    /// Permission bits (squashfs stores the type separately).
    pub fn mode(&self) -> u16 {
        self.base().mode
    }

    pub fn is_file(&self) -> bool {
        matches!(self.kind(), SQFS_INODE_FILE | SQFS_INODE_EXT_FILE)
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind(), SQFS_INODE_DIR | SQFS_INODE_EXT_DIR)
    }

    /// File size for regular files, target length for symlinks, 0 otherwise.
    pub fn size(&self) -> u64 {
        match self.kind() {
            SQFS_INODE_FILE | SQFS_INODE_EXT_FILE => {
                let mut size = 0u64;
                // SAFETY: regular-file inode, size is a valid out pointer.
                unsafe { sqfs_inode_get_file_size(self.0.as_ptr(), &mut size) };
                size
            }
            // SAFETY: slink payload is the active union member for symlinks
            // (and shares its leading fields with slink_ext).
            SQFS_INODE_SLINK | SQFS_INODE_EXT_SLINK => {
                u64::from(unsafe { self.0.as_ref().data.slink.target_size })
            }
            _ => 0,
        }
    }
}

// SAFETY: plain heap memory owned exclusively by this value.
unsafe impl Send for Inode {}
unsafe impl Sync for Inode {}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// Settings for [`RawWriter::create`].
pub(super) struct WriterConfig {
    pub compressor: u16,
    pub level: Option<u32>,
    pub block_size: u32,
    pub mtime: u32,
    pub workers: u32,
}

/// A file added to the writer, finalized in [`RawWriter::finish`].
struct PendingFile {
    name: CString,
    mode: u16,
    /// The block processor keeps a pointer to this slot and reallocs the
    /// inode behind it while blocks complete, so it must not move: boxed.
    inode: Box<*mut sqfs_inode_generic_t>,
}

/// libsquashfs image writer for a flat root directory.
///
/// Field order is drop order: the block processor (and its worker threads)
/// goes first, then the objects it uses, then the file.
pub(super) struct RawWriter {
    /// Always `Some` until drop.
    processor: Option<Obj<sqfs_block_processor_t>>,
    dir_writer: Obj<sqfs_dir_writer_t>,
    dir_meta: Obj<sqfs_meta_writer_t>,
    inode_meta: Obj<sqfs_meta_writer_t>,
    ids: Obj<sqfs_id_table_t>,
    /// Only kept alive: the processor writes through it.
    _block_writer: Obj<sqfs_block_writer_t>,
    frags: Obj<sqfs_frag_table_t>,
    cmp: Compressor,
    file: Box<IoFile>,
    sup: sqfs_super_t,
    files: Vec<PendingFile>,
    mtime: u32,
    in_file: bool,
}

// SAFETY: the libsquashfs objects are not tied to the creating thread (the
// block processor's workers are internal); RawWriter is used from one thread
// at a time (no Sync), which is all libsquashfs requires.
unsafe impl Send for RawWriter {}

impl RawWriter {
    pub fn create(file: File, cfg: &WriterConfig) -> FfiResult<RawWriter> {
        let file = IoFile::new(file, 0, u64::MAX);
        let f = file.raw();
        let cmp = Compressor::new(&file, cfg.compressor, cfg.block_size, cfg.level, false)?;
        let mut sup = sqfs_super_t::default();
        // SAFETY: sup is a valid out struct.
        let r = unsafe {
            sqfs_super_init(
                &mut sup,
                cfg.block_size as usize,
                cfg.mtime,
                c_int::from(cfg.compressor),
            )
        };
        check(&file, "initialising superblock", r)?;
        // Placeholder superblock; rewritten with the final tables in finish().
        // SAFETY: f is our live IoFile.
        check(&file, "writing superblock", unsafe {
            sqfs_super_write(&sup, f)
        })?;
        // SAFETY: cmp and f are live; write_options is always provided.
        let r = unsafe {
            match (*cmp.raw()).write_options {
                Some(w) => w(cmp.raw(), f),
                None => 0,
            }
        };
        check(&file, "writing compressor options", r)?;
        if r > 0 {
            sup.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
        }
        sup.flags |= SQFS_FLAG_NO_XATTRS;

        // SAFETY (all creations below): arguments are live objects owned by
        // the RawWriter being built, which outlives every user.
        let frags = Obj::new("creating fragment table", unsafe {
            sqfs_frag_table_create(0)
        })?;
        let block_writer = Obj::new("creating block writer", unsafe {
            sqfs_block_writer_create(f, 4096, 0)
        })?;
        let workers = cfg.workers.max(1);
        let processor = Obj::new("creating block processor", unsafe {
            sqfs_block_processor_create(
                cfg.block_size as usize,
                cmp.raw(),
                workers,
                (workers as usize) * 8,
                block_writer.raw(),
                frags.raw(),
            )
        })?;
        let ids = Obj::new("creating id table", unsafe { sqfs_id_table_create(0) })?;
        let inode_meta = Obj::new("creating inode table writer", unsafe {
            sqfs_meta_writer_create(f, cmp.raw(), 0)
        })?;
        let dir_meta = Obj::new("creating directory table writer", unsafe {
            sqfs_meta_writer_create(f, cmp.raw(), SQFS_META_WRITER_KEEP_IN_MEMORY)
        })?;
        let dir_writer = Obj::new("creating directory writer", unsafe {
            sqfs_dir_writer_create(dir_meta.raw(), SQFS_DIR_WRITER_CREATE_EXPORT_TABLE)
        })?;
        Ok(RawWriter {
            processor: Some(processor),
            dir_writer,
            dir_meta,
            inode_meta,
            ids,
            _block_writer: block_writer,
            frags,
            cmp,
            file,
            sup,
            files: Vec::new(),
            mtime: cfg.mtime,
            in_file: false,
        })
    }

    /// Starts a regular file; `name` must already be validated.
    pub fn begin_file(&mut self, name: CString, mode: u16) -> FfiResult<()> {
        let mut slot: Box<*mut sqfs_inode_generic_t> = Box::new(ptr::null_mut());
        // SAFETY: the slot is boxed and kept in self.files until finish(), so
        // the pointer the processor keeps stays valid.
        let r = unsafe {
            sqfs_block_processor_begin_file(self.proc_raw(), &mut *slot, ptr::null_mut(), 0)
        };
        check(&self.file, "starting file", r)?;
        self.files.push(PendingFile {
            name,
            mode,
            inode: slot,
        });
        self.in_file = true;
        Ok(())
    }

    pub fn append(&mut self, data: &[u8]) -> FfiResult<()> {
        // SAFETY: data is a valid buffer; the processor copies it.
        let r = unsafe {
            sqfs_block_processor_append(self.proc_raw(), data.as_ptr() as *const c_void, data.len())
        };
        check(&self.file, "writing file data", r)
    }

    pub fn end_file(&mut self) -> FfiResult<()> {
        self.in_file = false;
        // SAFETY: processor is live and a file was begun.
        let r = unsafe { sqfs_block_processor_end_file(self.proc_raw()) };
        check(&self.file, "finishing file", r)
    }

    pub fn file(&self) -> &File {
        self.file.file()
    }

    fn proc_raw(&self) -> *mut sqfs_block_processor_t {
        self.processor.as_ref().map_or(ptr::null_mut(), Obj::raw)
    }

    /// Flushes data, writes inodes, the root directory, fragment, export and
    /// id tables and the final superblock. Returns `bytes_used` (unpadded).
    pub fn finish(&mut self) -> FfiResult<u64> {
        if self.in_file {
            self.end_file()?;
        }
        let f = self.file.raw();
        // SAFETY: processor is live; waits for the workers and writes all
        // outstanding blocks, completing the inodes in self.files.
        check(&self.file, "flushing data blocks", unsafe {
            sqfs_block_processor_finish(self.proc_raw())
        })?;

        let mut root_id = 0u16;
        // SAFETY: ids is live; root_id is a valid out pointer. uid = gid = 0.
        check(&self.file, "recording owner id", unsafe {
            sqfs_id_table_id_to_index(self.ids.raw(), 0, &mut root_id)
        })?;

        self.sup.inode_table_start = self.file.size();
        // Inode numbers: files 1..=n in insertion order, root n + 1 (as
        // mksquashfs numbers the root last).
        let n = self.files.len() as u32;
        let mut refs = Vec::with_capacity(self.files.len());
        for (i, pf) in self.files.iter_mut().enumerate() {
            let inode = *pf.inode;
            if inode.is_null() {
                return Err(SqfsError {
                    op: "finalising file inode",
                    code: -4,
                    io: None,
                });
            }
            // SAFETY: the processor has finished, so the inode is complete and
            // exclusively ours; only base/file_ext fields are touched.
            unsafe {
                // Basic inodes where possible (fails harmlessly for sparse
                // files, which need the extended form's `sparse` field).
                sqfs_inode_make_basic(inode);
                let g = &mut *inode;
                g.base.mode = pf.mode;
                g.base.uid_idx = root_id;
                g.base.gid_idx = root_id;
                g.base.mod_time = self.mtime;
                g.base.inode_number = i as u32 + 1;
                if g.base.type_ == SQFS_INODE_EXT_FILE {
                    g.data.file_ext.nlink = 1;
                    g.data.file_ext.xattr_idx = 0xFFFF_FFFF;
                }
            }
            let (mut block, mut offset) = (0u64, 0u32);
            // SAFETY: live meta writer and valid out pointers / inode.
            unsafe {
                sqfs_meta_writer_get_position(self.inode_meta.raw(), &mut block, &mut offset)
            };
            check(&self.file, "writing file inode", unsafe {
                sqfs_meta_writer_write_inode(self.inode_meta.raw(), inode)
            })?;
            refs.push((block << 16) | u64::from(offset));
        }

        // Root directory: entries sorted by name (byte order) as squashfs requires.
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by(|&a, &b| {
            self.files[a]
                .name
                .as_bytes()
                .cmp(self.files[b].name.as_bytes())
        });
        // SAFETY: live dir writer; names are NUL-terminated CStrings.
        check(&self.file, "writing root directory", unsafe {
            sqfs_dir_writer_begin(self.dir_writer.raw(), 0)
        })?;
        for i in order {
            let pf = &self.files[i];
            let r = unsafe {
                sqfs_dir_writer_add_entry(
                    self.dir_writer.raw(),
                    pf.name.as_ptr(),
                    i as u32 + 1,
                    refs[i],
                    0o100000 | pf.mode,
                )
            };
            check(&self.file, "adding directory entry", r)?;
        }
        check(&self.file, "writing root directory", unsafe {
            sqfs_dir_writer_end(self.dir_writer.raw())
        })?;
        let root_ino = n + 1;
        // SAFETY: directory was just ended; returns a malloc'd inode or null.
        let root = Inode::from_raw("creating root inode", unsafe {
            sqfs_dir_writer_create_inode(self.dir_writer.raw(), 2, 0xFFFF_FFFF, root_ino + 1)
        })?;
        // SAFETY: fresh inode exclusively ours.
        unsafe {
            let g = &mut *root.0.as_ptr();
            g.base.mode = 0o755;
            g.base.uid_idx = root_id;
            g.base.gid_idx = root_id;
            g.base.mod_time = self.mtime;
            g.base.inode_number = root_ino;
            match g.base.type_ {
                SQFS_INODE_DIR => g.data.dir.nlink = 2,
                SQFS_INODE_EXT_DIR => g.data.dir_ext.nlink = 2,
                _ => {}
            }
        }
        let (mut block, mut offset) = (0u64, 0u32);
        // SAFETY: live meta writer, valid out pointers and inode.
        unsafe { sqfs_meta_writer_get_position(self.inode_meta.raw(), &mut block, &mut offset) };
        let root_ref = (block << 16) | u64::from(offset);
        check(&self.file, "writing root inode", unsafe {
            sqfs_meta_writer_write_inode(self.inode_meta.raw(), root.0.as_ptr())
        })?;

        // SAFETY (rest): live objects owned by self; sup is ours.
        unsafe {
            check(
                &self.file,
                "flushing inode table",
                sqfs_meta_writer_flush(self.inode_meta.raw()),
            )?;
            check(
                &self.file,
                "flushing directory table",
                sqfs_meta_writer_flush(self.dir_meta.raw()),
            )?;
            self.sup.root_inode_ref = root_ref;
            self.sup.directory_table_start = self.file.size();
            check(
                &self.file,
                "writing directory table",
                sqfs_meta_write_write_to_file(self.dir_meta.raw()),
            )?;
            self.sup.inode_count = root_ino;
            check(
                &self.file,
                "writing fragment table",
                sqfs_frag_table_write(self.frags.raw(), f, &mut self.sup, self.cmp.raw()),
            )?;
            check(
                &self.file,
                "writing export table",
                sqfs_dir_writer_write_export_table(
                    self.dir_writer.raw(),
                    f,
                    self.cmp.raw(),
                    root_ino,
                    root_ref,
                    &mut self.sup,
                ),
            )?;
            check(
                &self.file,
                "writing id table",
                sqfs_id_table_write(self.ids.raw(), f, &mut self.sup, self.cmp.raw()),
            )?;
            self.sup.bytes_used = self.file.size();
            check(
                &self.file,
                "writing superblock",
                sqfs_super_write(&self.sup, f),
            )?;
        }
        Ok(self.sup.bytes_used)
    }
}

impl Drop for RawWriter {
    fn drop(&mut self) {
        // Tear down the processor (joins its worker threads) before freeing
        // the inodes it may still reference on an error path.
        drop(self.processor.take());
        for pf in &mut self.files {
            let p = std::mem::replace(&mut *pf.inode, ptr::null_mut());
            // SAFETY: allocated by libsquashfs with malloc/realloc, freed
            // exactly once; free(NULL) is a no-op.
            unsafe { sqfs_free(p as *mut c_void) };
        }
    }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/// Read access to an image: superblock, directory and data readers.
/// Field order is drop order (readers before the compressor and file).
pub(super) struct RawImage {
    data: Obj<sqfs_data_reader_t>,
    dirs: Obj<sqfs_dir_reader_t>,
    /// Only kept alive: both readers decompress through it.
    _cmp: Compressor,
    file: Box<IoFile>,
    /// Boxed: the directory reader keeps a pointer to it.
    sup: Box<sqfs_super_t>,
}

// SAFETY: used from one thread at a time (the parent wraps it in a Mutex);
// libsquashfs readers have no thread affinity.
unsafe impl Send for RawImage {}

impl RawImage {
    /// Opens the image at offset 0 of `file`, refusing any read at or past
    /// `limit`; after the superblock is read the bound tightens to
    /// `bytes_used`.
    pub fn open(file: File, limit: u64) -> FfiResult<RawImage> {
        let file = IoFile::new(file, limit, limit);
        let f = file.raw();
        let mut sup = Box::new(sqfs_super_t::default());
        // SAFETY: f is our live IoFile, sup a valid out struct.
        check(&file, "reading superblock", unsafe {
            sqfs_super_read(&mut *sup, f)
        })?;
        if sup.bytes_used > limit {
            return Err(SqfsError {
                op: "checking image size",
                code: SQFS_ERROR_OUT_OF_BOUNDS,
                io: None,
            });
        }
        file.set_bounds(sup.bytes_used, sup.bytes_used);
        let cmp = Compressor::new(&file, sup.compression_id, sup.block_size, None, true)?;
        if sup.flags & SQFS_FLAG_COMPRESSOR_OPTIONS != 0 {
            // SAFETY: live compressor and file.
            let r = unsafe {
                match (*cmp.raw()).read_options {
                    Some(rd) => rd(cmp.raw(), f),
                    None => 0,
                }
            };
            check(&file, "reading compressor options", r)?;
        }
        // SAFETY: sup/cmp/f are owned by the RawImage that outlives the readers.
        let dirs = Obj::new("creating directory reader", unsafe {
            sqfs_dir_reader_create(&*sup, cmp.raw(), f, 0)
        })?;
        let data = Obj::new("creating data reader", unsafe {
            sqfs_data_reader_create(f, sup.block_size as usize, cmp.raw(), 0)
        })?;
        check(&file, "reading fragment table", unsafe {
            sqfs_data_reader_load_fragment_table(data.raw(), &*sup)
        })?;
        Ok(RawImage {
            data,
            dirs,
            _cmp: cmp,
            file,
            sup,
        })
    }

    pub fn bytes_used(&self) -> u64 {
        self.sup.bytes_used
    }

    pub fn block_size(&self) -> u32 {
        self.sup.block_size
    }

    pub fn root(&mut self) -> FfiResult<Inode> {
        let mut p = ptr::null_mut();
        // SAFETY: live dir reader; p receives a malloc'd inode.
        let r = unsafe { sqfs_dir_reader_get_root_inode(self.dirs.raw(), &mut p) };
        check(&self.file, "reading root inode", r)?;
        Inode::from_raw("reading root inode", p)
    }

    /// Lists a directory: raw names and inodes, in on-disk (sorted) order.
    pub fn list_dir(&mut self, dir: &Inode) -> FfiResult<Vec<(Vec<u8>, Inode)>> {
        if !dir.is_dir() {
            return Err(SqfsError {
                op: "opening directory",
                code: -12,
                io: None,
            });
        }
        // SAFETY: live reader and directory inode.
        check(&self.file, "opening directory", unsafe {
            sqfs_dir_reader_open_dir(self.dirs.raw(), dir.0.as_ptr(), 0)
        })?;
        let mut out = Vec::new();
        loop {
            let mut ent = ptr::null_mut::<sqfs_dir_entry_t>();
            // SAFETY: live reader; ent receives a malloc'd entry.
            let r = unsafe { sqfs_dir_reader_read(self.dirs.raw(), &mut ent) };
            check(&self.file, "reading directory", r)?;
            if r > 0 {
                break;
            }
            if ent.is_null() {
                return Err(SqfsError {
                    op: "reading directory",
                    code: -4,
                    io: None,
                });
            }
            // SAFETY: a complete entry with `size + 1` name bytes after the
            // header, as allocated by libsquashfs; freed right after copying.
            let name = unsafe {
                let len = usize::from((*ent).size) + 1;
                let name_ptr = (ent as *const u8).add(std::mem::size_of::<sqfs_dir_entry_t>());
                let name = std::slice::from_raw_parts(name_ptr, len).to_vec();
                sqfs_free(ent as *mut c_void);
                name
            };
            let mut p = ptr::null_mut();
            // SAFETY: live reader positioned after the entry just read.
            let r = unsafe { sqfs_dir_reader_get_inode(self.dirs.raw(), &mut p) };
            check(&self.file, "reading inode", r)?;
            out.push((name, Inode::from_raw("reading inode", p)?));
        }
        Ok(out)
    }

    /// Reads up to `buf.len()` bytes of a regular file at `offset`; returns
    /// the number of bytes read (0 at end of file).
    pub fn read_at(&mut self, inode: &Inode, offset: u64, buf: &mut [u8]) -> FfiResult<usize> {
        if !inode.is_file() {
            return Err(SqfsError {
                op: "reading file",
                code: -15,
                io: None,
            });
        }
        let len = buf.len().min(u32::MAX as usize >> 1) as u32;
        // SAFETY: live reader, file inode, buffer of at least `len` bytes.
        let r = unsafe {
            sqfs_data_reader_read(
                self.data.raw(),
                inode.0.as_ptr(),
                offset,
                buf.as_mut_ptr() as *mut c_void,
                len,
            )
        };
        check(&self.file, "reading file data", r)?;
        Ok(r as usize)
    }
}
