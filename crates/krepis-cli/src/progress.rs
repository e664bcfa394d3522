//! Progress display for long-running steps: a spinner on a terminal,
//! nothing at all when stderr is not one (logs and CI stay clean).
//!
//! A spinner redraws its line in place, which only works while nobody else
//! writes to the terminal. Where a child process shares it (the app under
//! `krepis dev`), each step is one plain line instead: animation frames
//! would otherwise pile up in the scrollback between the app's output.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where plain step lines go.
type Sink = Arc<Mutex<dyn Write + Send>>;

enum Display {
    Spinner(ProgressBar),
    /// Plain lines, each starting with the prefix.
    Lines(Sink, &'static str),
    Hidden,
}

/// A numbered sequence of steps shown on a terminal.
pub struct Steps {
    display: Display,
    total: usize,
    current: usize,
}

impl Steps {
    /// Starts a spinner for `total` steps; hidden unless stderr is a terminal.
    pub fn new(total: usize) -> Self {
        let display = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} [{prefix}] {msg} {elapsed:.dim}")
                    .expect("static template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Display::Spinner(bar)
        } else {
            Display::Hidden
        };
        Self::with(display, total)
    }

    /// Steps shown as one plain line each on a terminal another process
    /// writes to as well (prefixed with `prefix`); hidden when stderr is not
    /// a terminal.
    pub fn shared(total: usize, prefix: &'static str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::with(Display::Hidden, total);
        }
        Self::to_sink(total, Arc::new(Mutex::new(std::io::stderr())), prefix)
    }

    fn to_sink(total: usize, sink: Sink, prefix: &'static str) -> Self {
        Self::with(Display::Lines(sink, prefix), total)
    }

    fn with(display: Display, total: usize) -> Self {
        Self {
            display,
            total,
            current: 0,
        }
    }

    /// Whether a spinner is drawn (stderr is a terminal it has to itself).
    pub fn visible(&self) -> bool {
        matches!(self.display, Display::Spinner(_))
    }

    /// Moves to the next step, described by `message`.
    pub fn step(&mut self, message: &str) {
        self.current += 1;
        match &self.display {
            Display::Spinner(bar) => {
                bar.set_prefix(format!("{}/{}", self.current, self.total));
                bar.set_message(message.to_string());
            }
            Display::Lines(sink, prefix) => {
                // One write per line, so it never interleaves with the app's output.
                let line = format!("{prefix}[{}/{}] {message}\n", self.current, self.total);
                if let Ok(mut out) = sink.lock() {
                    let _ = out.write_all(line.as_bytes());
                }
            }
            Display::Hidden => {}
        }
    }

    /// Prints a line above the spinner (or plainly when hidden).
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Spinner(bar) => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    /// Removes the spinner.
    pub fn finish(self) {
        if let Display::Spinner(bar) = self.display {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_steps_are_plain_lines_without_redraw_codes() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let mut steps = Steps::to_sink(2, out.clone(), "krepis dev: ");
        steps.step("type-checking main.ts");
        steps.step("checking ctx");
        steps.finish();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "krepis dev: [1/2] type-checking main.ts\nkrepis dev: [2/2] checking ctx\n"
        );
        assert!(!text.contains('\r') && !text.contains('\x1b'));
    }
}
