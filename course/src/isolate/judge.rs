//! The verdict on one test's run: its exit, its proof, the snapshots it reported (compared
//! here, outside the test process), and the output worth showing.

use super::*;

/// The longest output shown per failed visible test.
pub(super) const SHOWN_OUTPUT: usize = 4000;

/// The output worth showing: libtest's own lines, proofs and forged result lines removed.
pub(super) fn clean(output: &str, name: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| {
            !(l.contains(course::proof::PROOF_PREFIX)
                || l.contains(course::snapshot::SNAPSHOT_PREFIX)
                || l.contains(crate::timing::BUDGET_PREFIX)
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

/// The verdict on one finished test process.
/// The course's snapshots, judged here, outside the test processes ([`course::snapshot`]).
#[derive(Default)]
pub(super) struct Snapshots {
    /// By file stem: the reviewed value (this checkout's `snapshots/*.snap`).
    pub(super) reviewed: BTreeMap<String, String>,
    /// By test: the snapshots the reference solutions reported (where they were graded on
    /// this course version): a test that does not report one of them fails.
    pub(super) required: BTreeMap<String, Vec<String>>,
}

impl Snapshots {
    pub(super) fn load(root: &Path, required: BTreeMap<String, Vec<String>>) -> Snapshots {
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
        Snapshots { reviewed, required }
    }

    /// `Err(why)` when a snapshot the test reported differs from the reviewed one, or one it
    /// must report is missing.
    pub(super) fn check(&self, test: &str, output: &str) -> Result<(), String> {
        let reported = reported_snapshots(output);
        for (stem, text) in &reported {
            match self.reviewed.get(stem) {
                Some(want) if want == text.trim_end_matches(['\n', '\r']) => {}
                Some(_) => {
                    return Err(format!("the snapshot `{stem}` differs from the course's reviewed value"))
                }
                None => return Err(format!("the snapshot `{stem}` is not one of the course's")),
            }
        }
        for stem in self.required.get(test).into_iter().flatten() {
            if !reported.iter().any(|(s, _)| s == stem) {
                return Err(format!("the test did not report its snapshot `{stem}`"));
            }
        }
        Ok(())
    }
}

/// Where the snapshots live, relative to the root.
pub(super) const SNAPSHOT_DIRS: [&str; 2] = ["tests/grading/snapshots", "exercises/tests/visible/snapshots"];

/// The snapshot lines of a test's output: (stem, text).
pub(super) fn reported_snapshots(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| l.find(course::snapshot::SNAPSHOT_PREFIX).map(|k| &l[k..]))
        .filter_map(course::snapshot::parse)
        .collect()
}

pub(super) fn judge(
    bin: &Binary,
    name: &str,
    token: &str,
    run: &Run,
    timeout: Duration,
    snapshots: &Snapshots,
) -> (Outcome, String) {
    let module = match name.rsplit_once("::") {
        Some((m, _)) => format!("{}::{m}", bin.krate),
        None => bin.krate.clone(),
    };
    let proof = course::proof::proof_line(token, &module);
    // libtest prints `test <name> ... ` before the test's own output: the proof may follow it
    // on the same line. A proof is 16 hex digits: one followed by more digits is not it.
    let proved = run
        .output
        .match_indices(&proof)
        .any(|(k, _)| !run.output[k + proof.len()..].starts_with(|c: char| c.is_ascii_hexdigit()));
    let shown = clean(&run.output, name);
    if run.timed_out {
        return (Outcome::Failed, format!("timed out: the test ran longer than {} s", timeout.as_secs()));
    }
    if run.success && proved {
        return match snapshots.check(name, &run.output) {
            Ok(()) => (Outcome::Passed, String::new()),
            Err(why) => (Outcome::Failed, why),
        };
    }
    let why = if let Some(sig) = run.signal {
        let what = match sig {
            6 => "aborted (SIGABRT: a stack overflow, a failed allocation or an abort)",
            9 => "killed (SIGKILL)",
            11 => "crashed (SIGSEGV)",
            _ => "killed by a signal",
        };
        format!("the test process {what}, signal {sig}")
    } else if run.success {
        "the test process exited before the test finished (no proof of completion)".to_string()
    } else {
        String::new()
    };
    let text = match (why.is_empty(), shown.is_empty()) {
        (true, _) => shown,
        (false, true) => why,
        (false, false) => format!("{shown}\n{why}"),
    };
    (Outcome::Failed, text)
}
