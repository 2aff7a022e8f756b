//! The timing table that ends `cargo course verify`: each step with its seconds and share,
//! each chapter's build and test seconds, and the slowest tests. Every CI log shows it, so
//! the cost of a new chapter is seen the day it lands.

use crate::libtest::Report;
use std::collections::BTreeMap;
use std::time::Duration;

/// One chapter's cost.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChapterCost {
    /// Building its visible and hidden tests alone (the shared part measured apart).
    pub build_secs: Option<f64>,
    /// Its tests' run times in the reference grading, added up (each test its own process).
    pub test_secs: f64,
    pub tests: usize,
}

/// A test's run time, and the training budget it declared (`course::budget!`).
#[derive(Debug, Clone, PartialEq)]
pub struct TestTime {
    pub name: String,
    pub secs: f64,
    pub budget: Option<String>,
}

#[derive(Debug, Default)]
pub struct Timing {
    pub steps: Vec<(String, f64)>,
    pub chapters: BTreeMap<String, ChapterCost>,
    /// The build all chapters share (the libraries and the test crates without any chapter).
    pub shared_build_secs: Option<f64>,
    pub tests: Vec<TestTime>,
}

/// `course::budget!("..")` prints this before the declaration.
pub const BUDGET_PREFIX: &str = course::budget::PREFIX;

/// The budget line a test printed, if any.
pub fn budget_of(output: &str) -> Option<String> {
    output.lines().find_map(|l| l.split_once(BUDGET_PREFIX).map(|(_, b)| b.trim().to_string()))
}

impl Timing {
    /// The run times of a grading's tests, by chapter (the first segment of a test's name).
    pub fn add_tests(&mut self, report: &Report, budgets: &BTreeMap<String, String>) {
        for t in &report.tests {
            let Some(d) = t.duration else { continue };
            let chapter = t.name.split("::").next().unwrap_or_default().to_string();
            let c = self.chapters.entry(chapter).or_default();
            c.test_secs += d.as_secs_f64();
            c.tests += 1;
            let budget = budgets.get(&t.name).cloned();
            self.tests.push(TestTime {
                name: format!("{} ({})", t.name, t.binary),
                secs: d.as_secs_f64(),
                budget,
            });
        }
    }

    pub fn slowest(&self, n: usize) -> Vec<&TestTime> {
        let mut all: Vec<&TestTime> = self.tests.iter().collect();
        all.sort_by(|a, b| b.secs.total_cmp(&a.secs).then(a.name.cmp(&b.name)));
        all.truncate(n);
        all
    }

    /// The table, in plain text for a log.
    pub fn table(&self) -> String {
        let total: f64 = self.steps.iter().map(|s| s.1).sum();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut out = format!("Timing ({} on {cores} cores)\n", fmt_secs(total));
        let w = self.steps.iter().map(|s| s.0.chars().count()).max().unwrap_or(4).max(4);
        out.push_str(&format!("  {:<w$}  {:>8}  {:>6}\n", "step", "seconds", "share"));
        for (name, secs) in &self.steps {
            let share = if total > 0.0 { 100.0 * secs / total } else { 0.0 };
            out.push_str(&format!("  {name:<w$}  {secs:>8.1}  {share:>5.1} %\n"));
        }
        if !self.chapters.is_empty() {
            out.push_str(&format!(
                "\n  {:<8}  {:>13}  {:>12}  {:>6}\n",
                "chapter", "build (s)", "tests (s)", "tests"
            ));
            if let Some(s) = self.shared_build_secs {
                out.push_str(&format!("  {:<8}  {s:>13.1}\n", "shared"));
            }
            let (mut b, mut t, mut n) = (0.0, 0.0, 0);
            for (id, c) in &self.chapters {
                let build = c.build_secs.map_or("-".to_string(), |s| format!("{s:.1}"));
                out.push_str(&format!("  {id:<8}  {build:>13}  {:>12.1}  {:>6}\n", c.test_secs, c.tests));
                b += c.build_secs.unwrap_or(0.0);
                t += c.test_secs;
                n += c.tests;
            }
            out.push_str(&format!("  {:<8}  {b:>13.1}  {t:>12.1}  {n:>6}\n", "all"));
            out.push_str("  (build: each chapter's tests built alone; tests: the run times of its tests in the reference grading, added up)\n");
        }
        let slow = self.slowest(10);
        if !slow.is_empty() {
            out.push_str("\n  slowest tests (reference grading, each in its own process)\n");
            for t in slow {
                let budget = t.budget.as_deref().map(|b| format!("  [{b}]")).unwrap_or_default();
                out.push_str(&format!("  {:>7.1} s  {}{budget}\n", t.secs, t.name));
            }
        }
        out
    }
}

/// `12 min 5 s`
pub fn fmt_secs(secs: f64) -> String {
    let d = Duration::from_secs_f64(secs.max(0.0));
    let s = d.as_secs();
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libtest::{Kind, Outcome, TestResult};

    fn t(name: &str, secs: f64) -> TestResult {
        TestResult {
            binary: "grading".into(),
            kind: Kind::Integration,
            name: name.into(),
            mode: None,
            outcome: Outcome::Passed,
            output: String::new(),
            duration: Some(Duration::from_secs_f64(secs)),
        }
    }

    #[test]
    fn the_table_adds_up_per_step_and_chapter() {
        let mut timing =
            Timing { steps: vec![("format".into(), 1.0), ("tests".into(), 3.0)], ..Timing::default() };
        let report =
            Report { tests: vec![t("ch01::a::x", 0.5), t("ch01::a::y", 2.0), t("ch02::b::z", 12.0)] };
        let budgets = BTreeMap::from([(
            "ch02::b::z".to_string(),
            budget_of("running\ndlcv-budget: 2 epochs x 10 steps\n").unwrap(),
        )]);
        timing.add_tests(&report, &budgets);
        timing.chapters.get_mut("ch01").unwrap().build_secs = Some(4.0);
        timing.shared_build_secs = Some(30.0);
        let table = timing.table();
        assert!(table.contains("  tests        3.0   75.0 %"), "{table}");
        assert!(table.contains("  shared             30.0\n"), "{table}");
        assert!(table.contains("  ch01                4.0           2.5       2"), "{table}");
        assert!(table.contains("  ch02                  -          12.0       1"), "{table}");
        assert!(table.contains("     12.0 s  ch02::b::z (grading)  [2 epochs x 10 steps]"), "{table}");
        assert_eq!(timing.slowest(1)[0].name, "ch02::b::z (grading)");
        assert_eq!(fmt_secs(125.0), "2 min 5 s");
    }
}
