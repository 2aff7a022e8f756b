//! The verdict on one test's run, decided here, outside the test process: its exit, its
//! transcript ([`course::transcript`]) compared with the reference solutions' transcript of the
//! same test, the snapshots it reported, and the output worth showing.

use super::*;
use course::check::Tolerance;
use course::transcript::Record;

/// The longest output shown per failed visible test.
pub(super) const SHOWN_OUTPUT: usize = 4000;

/// The output worth showing: libtest's own lines and forged result lines removed.
pub(super) fn clean(output: &str, name: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| {
            !(l.contains(crate::timing::BUDGET_PREFIX)
                || matches!(l.trim(), "ok" | "FAILED" | "ignored")
                || l.starts_with("running ")
                || l.starts_with("test result:")
                || (l.starts_with("test ") && l.contains(" ... "))
                || l.starts_with("note: run with `RUST_BACKTRACE=1`")
                || l.trim() == "successes:"
                || l.trim() == "failures:"
                || l.trim() == name
                || l.starts_with("---- "))
        })
        .collect();
    let lines: Vec<String> = lines.into_iter().map(without_thread_id).collect();
    let mut s = lines.join("\n").trim().to_string();
    if s.len() > SHOWN_OUTPUT {
        let mut cut = SHOWN_OUTPUT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n[output clipped]");
    }
    s
}

/// `thread 'x' (12345) panicked at ..` without the thread id, which changes between runs.
pub(super) fn without_thread_id(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("thread '") {
        if let Some(q) = rest.find("' (") {
            let after = &rest[q + 3..];
            if let Some(close) = after.find(')') {
                if close > 0 && after[..close].bytes().all(|b| b.is_ascii_digit()) {
                    return format!("thread '{}'{}", &rest[..q], &after[close + 1..]);
                }
            }
        }
    }
    line.to_string()
}

/// What a test's run is judged against: the course's reviewed snapshots and, per test, the
/// transcript the reference solutions wrote on this course version.
#[derive(Default)]
pub(super) struct Judge {
    /// By file stem: the reviewed value (this checkout's `snapshots/*.snap`).
    pub(super) reviewed: BTreeMap<String, String>,
    /// By [`transcript_key`]: the reference run's records (without the end). Empty when the
    /// reference itself is graded, or was not graded on this course version.
    pub(super) reference: BTreeMap<String, Vec<Record>>,
}

/// Where the snapshots live, relative to the root.
pub(super) const SNAPSHOT_DIRS: [&str; 2] = ["tests/grading/snapshots", "exercises/tests/visible/snapshots"];

/// A test's key among the reference transcripts: its binary and its name.
pub(super) fn transcript_key(bin: &Binary, name: &str) -> String {
    format!("{} {name}", bin.krate)
}

impl Judge {
    pub(super) fn load(root: &Path, reference: BTreeMap<String, Vec<Record>>) -> Judge {
        let mut reviewed = BTreeMap::new();
        for dir in SNAPSHOT_DIRS {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                let Some(stem) = path.file_name().and_then(|n| n.to_str()?.strip_suffix(".snap")) else {
                    continue;
                };
                if let Ok(text) = std::fs::read_to_string(&path) {
                    reviewed.insert(stem.to_string(), course::snapshot::contents_of_snap_file(&text));
                }
            }
        }
        Judge { reviewed, reference }
    }

    /// `Err(why)` unless every record holds on its own: values within their tolerance,
    /// equalities equal, conditions true, snapshots as reviewed.
    fn each_holds(&self, records: &[Record]) -> Result<(), String> {
        for r in records {
            match r {
                Record::Close { context, got, want, abs, rel, .. } => Tolerance { abs: *abs, rel: *rel }
                    .compare(got, want)
                    .map_err(|why| format!("{context}: {why}"))?,
                Record::Equal { context, got, want, .. } if !same_text(got, want) => {
                    return Err(format!("{context}: got {got}, expected {want}"))
                }
                Record::Holds { context, holds: false } => return Err(format!("{context} does not hold")),
                Record::Snapshot { stem, text } => match self.reviewed.get(stem) {
                    Some(want) if want == text.trim_end_matches(['\n', '\r']) => {}
                    Some(_) => {
                        return Err(format!("the snapshot `{stem}` differs from the course's reviewed value"))
                    }
                    None => return Err(format!("the snapshot `{stem}` is not one of the course's")),
                },
                _ => {}
            }
        }
        Ok(())
    }
}

/// `Debug` texts equal, where a zero's sign does not count (`-0.0 == 0.0` in Rust).
fn same_text(a: &str, b: &str) -> bool {
    fn unsigned_zeros(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let at = s.len() - rest.len();
            let starts_number = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'.');
            let ends = !bytes.get(at + 4).is_some_and(|b| b.is_ascii_digit());
            if rest.starts_with("-0.0") && starts_number && ends {
                out.push_str("0.0");
                rest = &rest[4..];
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }
    a == b || unsigned_zeros(a) == unsigned_zeros(b)
}

/// `Err(why)` unless the learner's records agree with the reference's, pair by pair: the same
/// checks in the same order, and every value the learner's code produced within the reference
/// run's tolerance of the reference run's expected value (where the expected value is the
/// test's own; see [`course::check`]).
fn agrees_with_reference(records: &[Record], reference: &[Record]) -> Result<(), String> {
    if records.len() != reference.len() {
        let (n, m) = (records.len(), reference.len());
        let first = records
            .iter()
            .zip(reference)
            .position(|(r, w)| std::mem::discriminant(r) != std::mem::discriminant(w));
        let at =
            first.map_or(String::new(), |k| format!(", from check {} on ({})", k + 1, reference[k].what()));
        let checks = |k: usize| if k == 1 { "1 check".to_string() } else { format!("{k} checks") };
        return Err(format!(
            "the test made {} where the reference solutions make {}{at}",
            checks(n),
            checks(m)
        ));
    }
    for (k, (r, w)) in records.iter().zip(reference).enumerate() {
        let mismatch =
            || format!("check {} is {} where the reference solutions make {}", k + 1, r.what(), w.what());
        match (r, w) {
            (
                Record::Close { got, own: false, .. },
                Record::Close { context, want, abs, rel, own: false, .. },
            ) => Tolerance { abs: *abs, rel: *rel }
                .compare(got, want)
                .map_err(|why| format!("{context}: {why} (the expected values of the reference run)"))?,
            (Record::Equal { got, own: false, .. }, Record::Equal { context, want, own: false, .. }) => {
                if !same_text(got, want) {
                    return Err(format!("{context}: got {got}, expected {want} (the reference run's value)"));
                }
            }
            (Record::Close { own: true, .. }, Record::Close { own: true, .. })
            | (Record::Equal { own: true, .. }, Record::Equal { own: true, .. })
            | (Record::Holds { .. }, Record::Holds { .. }) => {}
            (Record::Snapshot { stem, .. }, Record::Snapshot { stem: want, .. }) if stem == want => {}
            _ => return Err(mismatch()),
        }
    }
    Ok(())
}

/// The verdict on one finished test process.
pub(super) fn judge(
    bin: &Binary,
    name: &str,
    run: &Run,
    timeout: Duration,
    judge: &Judge,
) -> (Outcome, String) {
    let shown = clean(&run.output, name);
    if run.timed_out {
        return (Outcome::Failed, format!("timed out: the test ran longer than {} s", timeout.as_secs()));
    }
    let with_output = |why: String| {
        if shown.is_empty() {
            why
        } else {
            format!("{shown}\n{why}")
        }
    };
    if !run.success {
        let why = match run.signal {
            Some(6) => "the test process aborted (SIGABRT: a stack overflow, a failed allocation or an abort), signal 6".into(),
            Some(9) => "the test process was killed (SIGKILL), signal 9".into(),
            Some(11) => "the test process crashed (SIGSEGV), signal 11".into(),
            Some(sig) => format!("the test process was killed by a signal, signal {sig}"),
            None => return (Outcome::Failed, shown),
        };
        return (Outcome::Failed, with_output(why));
    }
    let Some(mut records) = course::transcript::parse_all(&run.transcript) else {
        return (Outcome::Failed, with_output("the test's transcript is damaged".into()));
    };
    if records.pop() != Some(Record::End) || records.contains(&Record::End) {
        let why = "the test process exited before the test finished (it did not record its end)";
        return (Outcome::Failed, with_output(why.into()));
    }
    let verdict =
        judge.each_holds(&records).and_then(|()| match judge.reference.get(&transcript_key(bin, name)) {
            Some(reference) => agrees_with_reference(&records, reference),
            None => Ok(()),
        });
    match verdict {
        Ok(()) => (Outcome::Passed, String::new()),
        Err(why) => (Outcome::Failed, with_output(why)),
    }
}

/// A transcript's records without its end, when it is whole (for the reference record).
pub(super) fn finished_records(transcript: &str) -> Option<Vec<Record>> {
    let mut records = course::transcript::parse_all(transcript)?;
    (records.pop() == Some(Record::End)).then_some(records)
}
