//! `cargo course watch`: the learner's loop. It watches `exercises/src` (notify) and re-runs
//! the visible tests of the chapter being edited on every save, shows the exercise being
//! worked on (with `file:line`), its first failing test with the message and the book
//! section, and moves on to the next exercise when all of its tests pass.
//!
//! Keys: `h` the next hint, `n` the next exercise, `r` run again, `q` quit. On a terminal the
//! keys act at once (raw mode); with piped input a key is a line.

use crate::commands::{clip, exercise_location};
use crate::libtest::{self, Outcome, Report, TestResult};
use crate::manifest::{Exercise, Manifest};
use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What wakes the loop.
#[derive(Debug)]
enum Msg {
    Key(char),
    Saved(PathBuf),
    Quit,
}

/// Where the learner is: the exercise, the hints shown so far, the latest test results per
/// chapter.
struct State<'m> {
    manifest: &'m Manifest,
    current: usize,
    hints: usize,
    reports: BTreeMap<String, Report>,
    /// A line about the last event (a save, a pass), shown at the bottom.
    note: String,
}

/// The visible tests of exercise `ex` in `report`.
fn tests_of<'r>(report: &'r Report, ex: &Exercise) -> Vec<&'r TestResult> {
    let prefix = format!("{}::{}::", ex.chapter, ex.id);
    report.tests.iter().filter(|t| t.name.starts_with(&prefix) && t.outcome != Outcome::Ignored).collect()
}

/// All visible tests of `ex` pass (and it has some).
fn done(report: &Report, ex: &Exercise) -> bool {
    let tests = tests_of(report, ex);
    !tests.is_empty() && tests.iter().all(|t| t.outcome == Outcome::Passed)
}

/// The chapter whose file `path` is (`exercises/src/ch02_backprop.rs` -> `ch02`).
fn chapter_of_file<'m>(manifest: &'m Manifest, path: &Path) -> Option<&'m str> {
    let stem = path.file_stem()?.to_str()?;
    manifest.chapters.iter().find(|c| c.module.as_deref() == Some(stem)).map(|c| c.id.as_str())
}

impl<'m> State<'m> {
    fn exercise(&self) -> &'m Exercise {
        &self.manifest.exercises[self.current]
    }

    /// Runs the visible tests of `chapter` and keeps the report.
    fn run_chapter(&mut self, root: &Path, chapter: &str) -> Result<(), String> {
        let report = match libtest::run_tests(
            root,
            &["-p", "exercises", "--test", "visible"],
            Some(&format!("{chapter}::")),
        ) {
            Ok(r) => r,
            Err(libtest::BuildFailed(e)) => {
                // The code does not compile: every test of the chapter counts as failed, and
                // the compiler's errors are the message.
                let failed = self
                    .manifest
                    .exercises_of(chapter)
                    .map(|ex| TestResult {
                        binary: String::new(),
                        kind: libtest::Kind::Integration,
                        name: format!("{chapter}::{}::does_not_compile", ex.id),
                        mode: None,
                        outcome: Outcome::Failed,
                        output: format!("the code does not compile yet; the compiler says:\n{e}"),
                        duration: None,
                    })
                    .collect();
                Report { tests: failed }
            }
        };
        self.reports.insert(chapter.to_string(), report);
        Ok(())
    }

    /// The first exercise from `from` on (in manifest order) whose tests do not all pass, among
    /// the chapters with a report.
    fn first_unfinished_from(&self, from: usize) -> Option<usize> {
        (from..self.manifest.exercises.len()).find(|&i| {
            let ex = &self.manifest.exercises[i];
            self.reports.get(&ex.chapter).is_none_or(|r| !done(r, ex))
        })
    }

    /// Moves to exercise `i` (running its chapter's tests if they never ran).
    fn go_to(&mut self, root: &Path, i: usize) -> Result<(), String> {
        let chapter = self.manifest.exercises[i].chapter.clone();
        if !self.reports.contains_key(&chapter) {
            self.run_chapter(root, &chapter)?;
        }
        if self.current != i {
            self.hints = 0;
        }
        self.current = i;
        Ok(())
    }

    /// After a test run: when the current exercise passes, moves to the next unfinished one
    /// (running the tests of chapters not seen yet as it goes).
    fn advance(&mut self, root: &Path) -> Result<(), String> {
        let ex = self.exercise();
        if !self.reports.get(&ex.chapter).is_some_and(|r| done(r, ex)) {
            return Ok(());
        }
        let finished = format!("✓ {} passes all its visible tests.", ex.title);
        for i in self.current + 1..self.manifest.exercises.len() {
            let next = &self.manifest.exercises[i];
            if !self.reports.contains_key(&next.chapter) {
                self.run_chapter(root, &next.chapter)?;
            }
            if !done(&self.reports[&next.chapter], next) {
                self.go_to(root, i)?;
                self.note = format!("{finished} Next: {}.", next.title);
                return Ok(());
            }
        }
        self.note = format!(
            "{finished} Every exercise passes its visible tests: well done! (Your instructor's hidden tests check more cases.)"
        );
        Ok(())
    }

    /// The screen: the exercise, its tests, the first failure, the hints shown.
    fn render(&self, root: &Path) -> String {
        let ex = self.exercise();
        let ch = self.manifest.chapter_of(ex);
        let in_chapter: Vec<&Exercise> = self.manifest.exercises_of(&ch.id).collect();
        let k = in_chapter.iter().position(|e| e.id == ex.id).map_or(0, |k| k + 1);
        let mut s = String::new();
        s.push_str(&format!(
            "cargo course watch · chapter {} {}                keys: h hint · n next · r run · q quit\n\n",
            ch.number, ch.title
        ));
        s.push_str(&format!(
            "Exercise {k}/{} of {}: {} ({}), book section {} (book/{})\n",
            in_chapter.len(),
            ch.id,
            ex.title,
            ex.id,
            ex.section,
            ch.book
        ));
        if let Some((file, line)) = exercise_location(root, self.manifest, ex) {
            s.push_str(&format!("  {}:{line}\n", file.display()));
        }
        if let Some(report) = self.reports.get(&ch.id) {
            let marks: String = in_chapter
                .iter()
                .map(|e| {
                    if done(report, e) {
                        '■'
                    } else if e.id == ex.id {
                        '▶'
                    } else {
                        '□'
                    }
                })
                .collect();
            let n_done = in_chapter.iter().filter(|e| done(report, e)).count();
            s.push_str(&format!(
                "  chapter {}: {marks} {n_done}/{} exercises pass\n\n",
                ch.id,
                in_chapter.len()
            ));
            let tests = tests_of(report, ex);
            let passed = tests.iter().filter(|t| t.outcome == Outcome::Passed).count();
            s.push_str(&format!("Visible tests of {}: {passed}/{} pass\n", ex.id, tests.len()));
            let prefix = format!("{}::{}::", ex.chapter, ex.id);
            let mut shown_failure = false;
            for t in &tests {
                let short = t.name.strip_prefix(&prefix).unwrap_or(&t.name);
                if t.outcome == Outcome::Passed {
                    s.push_str(&format!("  ✓ {short}\n"));
                } else {
                    s.push_str(&format!("  ✗ {short}\n"));
                    if !shown_failure {
                        shown_failure = true;
                        for l in t.message().lines().take(8) {
                            s.push_str(&format!("      {}\n", clip(l, 200)));
                        }
                    }
                }
            }
        }
        if self.hints > 0 {
            s.push('\n');
            for (i, h) in ex.hints.iter().take(self.hints).enumerate() {
                s.push_str(&format!("Hint {}/{}: {h}\n", i + 1, ex.hints.len()));
            }
        }
        if !self.note.is_empty() {
            s.push_str(&format!("\n{}\n", self.note));
        }
        s
    }
}

/// Raw mode for the lifetime of the guard (keys without Enter); restored on drop, also
/// when a panic unwinds.
struct RawMode(bool);

impl RawMode {
    fn enable(tty: bool) -> RawMode {
        RawMode(tty && crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// Clears the terminal and shows `text` (in raw mode lines need `\r\n`).
fn show(text: &str, tty: bool) {
    let mut out = std::io::stdout().lock();
    if tty {
        let _ = write!(out, "\x1b[2J\x1b[H{}", text.replace('\n', "\r\n"));
    } else {
        let _ = writeln!(out, "{text}");
    }
    let _ = out.flush();
}

/// Keys from the terminal (raw) or from lines of standard input, into `tx`.
fn read_keys(tx: mpsc::Sender<Msg>, tty: bool) {
    std::thread::spawn(move || {
        if tty {
            while let Ok(ev) = event::read() {
                let TermEvent::Key(key) = ev else { continue };
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                let msg = match key.code {
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Msg::Quit,
                    KeyCode::Esc => Msg::Quit,
                    KeyCode::Char(c) => Msg::Key(c.to_ascii_lowercase()),
                    _ => continue,
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        } else {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if let Some(c) = line.trim().chars().next() {
                    if tx.send(Msg::Key(c.to_ascii_lowercase())).is_err() {
                        break;
                    }
                }
            }
            let _ = tx.send(Msg::Quit); // end of input
        }
    });
}

/// Saves of `.rs` files under `dir`, into `tx`.
fn watch_files(dir: &Path, tx: mpsc::Sender<Msg>) -> Result<notify::RecommendedWatcher, String> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        let relevant = matches!(
            ev.kind,
            EventKind::Create(_)
                | EventKind::Modify(_)
                | EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
        );
        if !relevant {
            return;
        }
        for p in ev.paths {
            if p.extension().is_some_and(|e| e == "rs") {
                let _ = tx.send(Msg::Saved(p));
            }
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    Ok(watcher)
}

pub fn watch(root: &Path, manifest: &Manifest, chapter: Option<&str>) -> Result<i32, String> {
    let start_chapter = match chapter {
        Some(c) => Some(manifest.chapter_ids(&[c.to_string()])?.remove(0)),
        None => None,
    };
    if manifest.exercises.is_empty() {
        println!("The course has no exercises yet.");
        return Ok(0);
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut state = State { manifest, current: 0, hints: 0, reports: BTreeMap::new(), note: String::new() };
    // Where to start: the first unfinished exercise of the chapter asked for, else of the
    // course (the chapters are run one by one until one has an unfinished exercise).
    println!("Running the visible tests to find where you are (the first build takes a few minutes)...");
    let chapters: Vec<String> = match &start_chapter {
        Some(c) => vec![c.clone()],
        None => manifest.written().map(|c| c.id.clone()).collect(),
    };
    let mut start = None;
    for ch in &chapters {
        state.run_chapter(root, ch)?;
        let from = manifest.exercises.iter().position(|e| &e.chapter == ch).unwrap_or(0);
        if let Some(i) = state.first_unfinished_from(from).filter(|&i| &manifest.exercises[i].chapter == ch) {
            start = Some(i);
            break;
        }
    }
    let start = start.or_else(|| {
        start_chapter.as_ref().and_then(|c| manifest.exercises.iter().position(|e| &e.chapter == c))
    });
    match start {
        Some(i) => state.current = i,
        None => {
            state.current = manifest.exercises.len() - 1;
            state.note = "Every exercise passes its visible tests. `n` goes through them again.".into();
        }
    }

    let (tx, rx) = mpsc::channel();
    let _watcher = watch_files(&root.join("exercises/src"), tx.clone())?;
    let _raw = RawMode::enable(tty);
    read_keys(tx, tty);
    show(&state.render(root), tty);
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Quit | Msg::Key('q') => break,
            Msg::Key('h') => {
                let n = state.exercise().hints.len();
                if n == 0 {
                    state.note = format!(
                        "{} has no hints: read book section {}.",
                        state.exercise().id,
                        state.exercise().section
                    );
                } else if state.hints < n {
                    state.hints += 1;
                    state.note.clear();
                } else {
                    state.note = format!(
                        "That was the last hint; book section {} explains the rest.",
                        state.exercise().section
                    );
                }
            }
            Msg::Key('n') => {
                let next = (state.current + 1) % manifest.exercises.len();
                show(
                    &format!(
                        "{}\nRunning the tests of {} ...",
                        state.render(root),
                        manifest.exercises[next].chapter
                    ),
                    tty,
                );
                state.go_to(root, next)?;
                state.note = format!("Skipped to {}.", state.exercise().title);
            }
            Msg::Key('r') => {
                let ch = state.exercise().chapter.clone();
                show(&format!("{}\nRunning the tests of {ch} ...", state.render(root)), tty);
                let t = Instant::now();
                state.run_chapter(root, &ch)?;
                state.note = format!("Tests of {ch} ran in {:.1} s.", t.elapsed().as_secs_f64());
                state.advance(root)?;
            }
            Msg::Key(_) => continue,
            Msg::Saved(path) => {
                // An editor's save is several events (write, rename, metadata): take them all.
                let mut saved = vec![path];
                let until = Instant::now() + Duration::from_millis(300);
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match rx.recv_timeout(left) {
                        Ok(Msg::Saved(p)) => saved.push(p),
                        Ok(Msg::Quit) | Ok(Msg::Key('q')) => return Ok(0),
                        Ok(_) | Err(_) => {}
                    }
                }
                let edited = saved
                    .iter()
                    .rev()
                    .find_map(|p| chapter_of_file(manifest, p))
                    .unwrap_or(&state.exercise().chapter)
                    .to_string();
                let name = saved
                    .last()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                show(
                    &format!("{}\nSaved {name}: running the tests of {edited} ...", state.render(root)),
                    tty,
                );
                let t = Instant::now();
                state.run_chapter(root, &edited)?;
                state.note =
                    format!("Saved {name}; the tests of {edited} ran in {:.1} s.", t.elapsed().as_secs_f64());
                if edited != state.exercise().chapter {
                    // Work moved to another chapter: follow it.
                    let from = manifest.exercises.iter().position(|e| e.chapter == edited).unwrap_or(0);
                    let to = state
                        .first_unfinished_from(from)
                        .filter(|&i| manifest.exercises[i].chapter == edited)
                        .unwrap_or(from);
                    state.go_to(root, to)?;
                } else {
                    state.advance(root)?;
                }
            }
        }
        show(&state.render(root), tty);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libtest::Kind;

    fn t(name: &str, outcome: Outcome, output: &str) -> TestResult {
        TestResult {
            binary: "visible".into(),
            kind: Kind::Integration,
            name: name.into(),
            mode: None,
            outcome,
            output: output.into(),
            duration: None,
        }
    }

    #[test]
    fn shows_the_first_failure_and_moves_on_when_an_exercise_passes() {
        let m = crate::manifest::two_chapter_sample();
        let root = Path::new("/nonexistent");
        let mut s =
            State { manifest: &m, current: 0, hints: 0, reports: BTreeMap::new(), note: String::new() };
        let todo = "thread 'x' panicked at src/a.rs:3:5:\nnot yet implemented: ch01 top_k: count; see book section 1.2";
        s.reports.insert(
            "ch01".into(),
            Report {
                tests: vec![
                    t("ch01::top_k::a", Outcome::Failed, todo),
                    t("ch01::top_k::b", Outcome::Passed, ""),
                ],
            },
        );
        let screen = s.render(root);
        assert!(screen.contains("Exercise 1/1 of ch01: Top-k (top_k), book section 1.2"), "{screen}");
        assert!(screen.contains("Visible tests of top_k: 1/2 pass"), "{screen}");
        assert!(
            screen.contains("  ✗ a\n      not yet implemented: ch01 top_k: count; see book section 1.2\n"),
            "{screen}"
        );
        assert!(screen.contains("  ✓ b"), "{screen}");
        assert_eq!(s.first_unfinished_from(0), Some(0));
        // it passes: the next exercise is in ch02, whose tests have run already
        s.reports.get_mut("ch01").unwrap().tests[0].outcome = Outcome::Passed;
        s.reports.insert("ch02".into(), Report { tests: vec![t("ch02::relu::x", Outcome::Failed, "boom")] });
        s.advance(root).unwrap();
        assert_eq!(s.exercise().id, "relu");
        assert!(s.note.contains("Top-k passes") && s.note.contains("Next: ReLU"), "{}", s.note);
        s.reports.get_mut("ch02").unwrap().tests[0].outcome = Outcome::Passed;
        s.advance(root).unwrap();
        assert!(s.note.contains("Every exercise passes"), "{}", s.note);
    }

    #[test]
    fn a_saved_file_names_its_chapter() {
        let m = crate::manifest::two_chapter_sample();
        assert_eq!(chapter_of_file(&m, Path::new("/x/exercises/src/ch02_two.rs")), Some("ch02"));
        assert_eq!(chapter_of_file(&m, Path::new("/x/exercises/src/lib.rs")), None);
    }
}
