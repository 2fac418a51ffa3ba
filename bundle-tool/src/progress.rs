//! Progress bars on stderr, only when stderr is a terminal: CI logs stay
//! clean, people at a terminal see what a minute of compression is doing.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Shows [`ota_bundle::Progress`] as an indicatif bar.
pub struct Bar {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Bar {
    /// A bar that draws only if `!quiet` and stderr is a terminal.
    pub fn new(quiet: bool) -> Bar {
        Bar {
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }
}

impl ota_bundle::Progress for Bar {
    fn stage(&mut self, name: &str, total: u64) {
        if !self.enabled {
            return;
        }
        self.finish();
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(name.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
