//! `bundle-tool`: see the library crate for how the commands are built.
use std::process::ExitCode;

fn main() -> ExitCode {
    bundle_tool::main()
}
