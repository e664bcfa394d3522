//! Progress display for long-running steps: a spinner on a terminal,
//! nothing at all when stderr is not one (logs and CI stay clean).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A numbered sequence of steps shown as one spinner line on a terminal.
pub struct Steps {
    bar: Option<ProgressBar>,
    total: usize,
    current: usize,
}

impl Steps {
    /// Starts a display for `total` steps; hidden unless stderr is a terminal.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} [{prefix}] {msg} {elapsed:.dim}")
                    .expect("static template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            total,
            current: 0,
        }
    }

    /// Whether anything is displayed (stderr is a terminal).
    pub fn visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves to the next step, described by `message`.
    pub fn step(&mut self, message: &str) {
        self.current += 1;
        if let Some(bar) = &self.bar {
            bar.set_prefix(format!("{}/{}", self.current, self.total));
            bar.set_message(message.to_string());
        }
    }

    /// Prints a line above the spinner (or plainly when hidden).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the spinner.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
