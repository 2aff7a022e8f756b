//! What a long command is doing while it runs, so that no step is minutes of silence.
//!
//! One activity at a time ([`begin`]): a label, and what the code running under it counts,
//! crates compiled (from cargo's output lines, [`observe`]) and tests run ([`test_done`]).
//! On a terminal it is one line that updates in place (indicatif, on stderr). In a log (CI,
//! a pipe) it is a plain counted line every [`HEARTBEAT`], so the log shows how far a
//! step got and a stuck step is seen as stuck.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a log gets a line while an activity runs.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

struct Activity {
    label: String,
    start: Instant,
    compiled: usize,
    tests: usize,
    total: Option<usize>,
    /// The last crate compiled or test run, shown on the terminal line.
    last: String,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

/// The activities under way, innermost last: a verify step, and a grading inside it.
static STACK: Mutex<Vec<Activity>> = Mutex::new(Vec::new());

fn stack() -> std::sync::MutexGuard<'static, Vec<Activity>> {
    STACK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the activity when dropped (the one it was started in shows again).
#[must_use = "the activity ends when the guard is dropped"]
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        let mut stack = stack();
        if let Some(bar) = stack.pop().and_then(|a| a.bar) {
            bar.finish_and_clear();
        }
        if let Some(outer) = stack.last_mut() {
            outer.bar = terminal_bar(&outer.label);
            outer.last_line = Instant::now();
        }
    }
}

/// The terminal line of an activity, when stderr is a terminal.
fn terminal_bar(label: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// Starts an activity inside the current one (if any), which it replaces on the terminal
/// until it ends.
pub fn begin(label: impl Into<String>) -> Guard {
    let mut stack = stack();
    let label = match stack.last_mut() {
        Some(outer) => {
            if let Some(bar) = outer.bar.take() {
                bar.finish_and_clear();
            }
            format!("{} › {}", outer.label, label.into())
        }
        None => label.into(),
    };
    let bar = terminal_bar(&label);
    stack.push(Activity {
        label,
        start: Instant::now(),
        compiled: 0,
        tests: 0,
        total: None,
        last: String::new(),
        bar,
        last_line: Instant::now(),
    });
    drop(stack);
    start_heartbeat();
    Guard(())
}

/// A line of cargo's output: counts `Compiling` lines and test results.
pub fn observe(line: &str) {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("Compiling ") {
        let krate = rest.split_whitespace().next().unwrap_or(rest).to_string();
        update(|a| {
            a.compiled += 1;
            a.last = format!("compiling {krate}");
        });
    } else if let Some(rest) = line.strip_prefix("test ") {
        if let Some((name, _)) = rest.rsplit_once(" ... ") {
            let name = name.to_string();
            update(|a| {
                a.tests += 1;
                a.last = name;
            });
        }
    }
}

/// The number of tests the activity will run.
pub fn set_total(total: usize) {
    update(|a| a.total = Some(total));
}

/// One test finished.
pub fn test_done(name: &str) {
    update(|a| {
        a.tests += 1;
        a.last = name.to_string();
    });
}

/// Hides the terminal line (before an error is printed).
pub fn clear() {
    if let Some(bar) = stack().last().and_then(|a| a.bar.as_ref()) {
        bar.finish_and_clear();
    }
}

/// `println!` that does not tear the terminal line of the current activity.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::progress::println(&format!($($arg)*))
    };
}
pub(crate) use say;

/// Prints a line to stdout without tearing the terminal line.
pub fn println(text: &str) {
    let stack = stack();
    match stack.last().and_then(|a| a.bar.as_ref()) {
        Some(bar) => bar.suspend(|| println!("{text}")),
        None => println!("{text}"),
    }
}

fn update(f: impl FnOnce(&mut Activity)) {
    let mut stack = stack();
    if let Some(a) = stack.last_mut() {
        f(a);
        if let Some(bar) = &a.bar {
            bar.set_message(a.summary());
        }
    }
}

impl Activity {
    /// `12 crates compiled, 40/230 tests, last: ...`
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.compiled > 0 {
            parts.push(format!("{} crates compiled", self.compiled));
        }
        match self.total {
            Some(t) => parts.push(format!("{}/{t} tests", self.tests)),
            None if self.tests > 0 => parts.push(format!("{} tests", self.tests)),
            None => {}
        }
        if !self.last.is_empty() {
            parts.push(format!("last: {}", crate::commands::clip(&self.last, 60)));
        }
        parts.join(", ")
    }
}

/// `1m05s`
pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Prints the log line of the current activity when [`HEARTBEAT`] passed since the last one.
fn beat() {
    let mut stack = stack();
    let Some(a) = stack.last_mut() else { return };
    if a.bar.is_some() || a.last_line.elapsed() < HEARTBEAT {
        return;
    }
    a.last_line = Instant::now();
    let summary = a.summary();
    let sep = if summary.is_empty() { "" } else { ": " };
    println!("      ... {} {}{sep}{summary}", fmt_elapsed(a.start.elapsed()), a.label);
}

/// One thread for the whole process that calls [`beat`] every second.
fn start_heartbeat() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            beat();
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_crates_and_tests() {
        let _g = begin("building");
        observe("   Compiling dfdx v0.13.0");
        observe("   Compiling courselib v0.1.0 (/x/courselib)");
        observe("test ch01::a::b ... ok");
        observe("running 3 tests");
        set_total(3);
        test_done("ch01::a::c");
        let s = stack().last().unwrap().summary();
        assert_eq!(s, "2 crates compiled, 2/3 tests, last: ch01::a::c");
        {
            let _inner = begin("inner");
            assert_eq!(stack().last().unwrap().label, "building › inner");
        }
        assert_eq!(stack().len(), 1);
        assert_eq!(fmt_elapsed(Duration::from_secs(65)), "1m05s");
        assert_eq!(fmt_elapsed(Duration::from_secs(9)), "9s");
    }
}
