//! Integration tests of the bundle library against the real tools it must
//! agree with: `rauc` 1.8 (info, extract, bundle, and the service installing
//! into a file-backed slot), `veritysetup`, `unsquashfs` and `openssl`.
//! `ci/test` installs them; a missing tool fails the test with its name.

mod helpers;

mod bad_input;
mod interop;
mod roundtrip;
mod service_install;
mod signing;
