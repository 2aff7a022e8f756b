//! The transcript: what a graded test checked, with the values, sent to the grader, which
//! decides outside the test process whether the test passed.
//!
//! Under `cargo course grade` every test runs in its own process, and learner code runs in
//! that process too: whatever decides pass or fail in there, learner code can reach. So the
//! test only *records*. Each check of [`crate::check`] and each [`crate::snapshot!`] writes one
//! [`Record`] (what was compared, the value got, the value expected, the tolerance), and the
//! test's [`graded!`](crate::graded) guard writes [`Record::End`] when the test returns without
//! panicking. The grader compares the records with those the same test wrote on the reference
//! solutions: every value the learner's code produced must agree with the reference's
//! expected value, within the tolerance *the reference run* declared.
//!
//! The records travel on a pipe the grader opens as descriptor [`FD`] (named in [`FD_ENV`]),
//! not on standard output. [`open`] (the first statement of every graded test, before any
//! learner code runs) moves it to a close-on-exec descriptor and closes the original, so
//! processes that learner code starts do not inherit it; the test processes see no `/proc`
//! (it is covered in their mount namespace), so learner code cannot reopen it; and safe Rust
//! (the exercises crate forbids `unsafe`) cannot write to a raw descriptor. Outside the grader
//! (plain `cargo test`) nothing is recorded and the checks simply assert.
//!
//! No secret lives in the test process: a submission that reads its whole address space finds
//! neither the reference values (they never enter it) nor a token (there is none).

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

/// Set by the grader to the number of the descriptor the records go to.
pub const FD_ENV: &str = "DLCV_TRANSCRIPT_FD";

/// The descriptor the grader passes the transcript pipe on.
pub const FD: i32 = 3;

/// One check a graded test made.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Numbers compared within a tolerance: `|got − want| <= abs + rel·|want|` element-wise.
    /// `own`: the expected values derive from the learner's own outputs (a consistency check,
    /// such as a gradient against finite differences of the learner's forward pass), so the
    /// grader compares `got` with this run's `want`, not with the reference's.
    Close { context: String, got: Vec<f64>, want: Vec<f64>, abs: f64, rel: f64, own: bool },
    /// Two values compared for equality, as their `Debug` text; `own` as for `Close`.
    Equal { context: String, got: String, want: String, own: bool },
    /// A condition that must hold (`holds` is what it was in this run).
    Holds { context: String, holds: bool },
    /// A snapshot (the file stem, insta's naming) and the value the test produced.
    Snapshot { stem: String, text: String },
    /// The test returned without panicking.
    End,
}

static CHANNEL: Mutex<Option<File>> = Mutex::new(None);

/// Takes over the transcript descriptor, when the grader passed one (else does nothing).
/// Called by [`graded!`](crate::graded) before any learner code runs.
pub fn open() {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        let mut channel = CHANNEL.lock().unwrap_or_else(|e| e.into_inner());
        if channel.is_some() || std::env::var(FD_ENV).ok().and_then(|v| v.parse::<i32>().ok()) != Some(FD) {
            return;
        }
        // SAFETY: the grader opened descriptor FD for the transcript, and the test process
        // uses it nowhere else; `original` owns it from here and closes it when dropped.
        let original = unsafe { File::from_raw_fd(FD) };
        // `try_clone` duplicates with F_DUPFD_CLOEXEC: not inherited by child processes.
        *channel = original.try_clone().ok();
    }
}

/// Whether the grader is recording (then it also judges the snapshots).
pub fn recording() -> bool {
    CHANNEL.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Writes `record` to the transcript, when the grader is recording.
pub fn record(record: &Record) {
    let mut channel = CHANNEL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = channel.as_mut() {
        let mut line = record.to_line();
        line.push('\n');
        let _ = file.write_all(line.as_bytes());
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

fn numbers(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",")
}

fn parse_numbers(text: &str) -> Option<Vec<f64>> {
    if text == "-" {
        return Some(Vec::new());
    }
    text.split(',').map(|v| v.parse().ok()).collect()
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn parse_flag(text: &str) -> Option<bool> {
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

impl Record {
    /// One line of text, without line breaks (f64 values round-trip exactly).
    pub fn to_line(&self) -> String {
        match self {
            Record::Close { context, got, want, abs, rel, own } => format!(
                "close {} {abs:?} {rel:?} {} {} {}",
                flag(*own),
                hex(context),
                numbers(got),
                numbers(want)
            ),
            Record::Equal { context, got, want, own } => {
                format!("equal {} {} {} {}", flag(*own), hex(context), hex(got), hex(want))
            }
            Record::Holds { context, holds } => format!("holds {} {}", flag(*holds), hex(context)),
            Record::Snapshot { stem, text } => format!("snapshot {} {}", hex(stem), hex(text)),
            Record::End => "end".into(),
        }
    }

    /// Reads a [`Record::to_line`] back.
    pub fn parse(line: &str) -> Option<Record> {
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        Some(match fields.as_slice() {
            ["close", own, abs, rel, context, got, want] => Record::Close {
                context: unhex(context)?,
                got: parse_numbers(got)?,
                want: parse_numbers(want)?,
                abs: abs.parse().ok()?,
                rel: rel.parse().ok()?,
                own: parse_flag(own)?,
            },
            ["equal", own, context, got, want] => Record::Equal {
                context: unhex(context)?,
                got: unhex(got)?,
                want: unhex(want)?,
                own: parse_flag(own)?,
            },
            ["holds", holds, context] => {
                Record::Holds { context: unhex(context)?, holds: parse_flag(holds)? }
            }
            ["snapshot", stem, text] => Record::Snapshot { stem: unhex(stem)?, text: unhex(text)? },
            ["end"] => Record::End,
            _ => return None,
        })
    }

    /// What kind of check this is and what it is about: records of two runs of the same test
    /// must agree on this, in order.
    pub fn what(&self) -> String {
        match self {
            Record::Close { context, .. } => format!("the comparison \"{context}\""),
            Record::Equal { context, .. } => format!("the equality \"{context}\""),
            Record::Holds { context, .. } => format!("the check \"{context}\""),
            Record::Snapshot { stem, .. } => format!("the snapshot `{stem}`"),
            Record::End => "the end of the test".into(),
        }
    }
}

/// Reads a whole transcript: `None` when a line is not a record (it was not written by
/// [`record`]).
pub fn parse_all(text: &str) -> Option<Vec<Record>> {
    text.lines().filter(|l| !l.is_empty()).map(Record::parse).collect()
}

/// Writes [`Record::End`] when dropped at the end of a test that did not panic.
pub struct Graded(());

impl Graded {
    /// Takes over the transcript (before any learner code runs).
    pub fn start() -> Self {
        open();
        Graded(())
    }
}

impl Drop for Graded {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            record(&Record::End);
        }
    }
}

/// The first statement of every graded test: under the grader, the test's checks are
/// recorded, and its end when it returns without panicking.
#[macro_export]
macro_rules! graded {
    () => {
        let _graded = $crate::transcript::Graded::start();
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_lines() {
        let records = [
            Record::Close {
                context: "softmax (book section 2.4): a 3x4 batch\nrow 2".into(),
                got: vec![0.1, -2.5e-7, f64::NAN, f64::INFINITY, 1.0 / 3.0],
                want: vec![],
                abs: 1e-5,
                rel: 1e-4,
                own: true,
            },
            Record::Equal {
                context: "shape".into(),
                got: "[2, 3]".into(),
                want: "a b\tc".into(),
                own: false,
            },
            Record::Holds { context: "loss < 0.5".into(), holds: true },
            Record::Snapshot { stem: "grading__ch01__x".into(), text: "two\nlines ünï".into() },
            Record::End,
        ];
        for r in &records {
            let line = r.to_line();
            assert!(!line.contains('\n'), "{line}");
            let back = Record::parse(&line).unwrap();
            match (r, &back) {
                (Record::Close { got: a, .. }, Record::Close { got: b, .. }) => {
                    assert_eq!(format!("{a:?}"), format!("{b:?}"))
                }
                _ => assert_eq!(r, &back),
            }
        }
        assert_eq!(parse_all("end\nnot a record\n"), None);
        assert_eq!(Record::parse("close 2 1 1 - - -"), None);
    }

    #[test]
    fn nothing_is_recorded_outside_the_grader() {
        open();
        assert!(!recording());
    }
}
