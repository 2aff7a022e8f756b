//! Running a grading's tests: a pool of one worker per core, each test in its own process
//! ([`run_one`]) and judged at once ([`judge()`]), until the queue is empty or the grading's total
//! limit is reached.

use super::*;

/// What the tests' runs gave.
pub(super) struct Ran {
    /// (binary index, result) per test.
    pub(super) results: Vec<(usize, TestResult)>,
    /// The training budgets the tests declared, by test name.
    pub(super) budgets: BTreeMap<String, String>,
    /// The transcripts of the tests that passed (their records' lines, without the end), by
    /// [`transcript_key`].
    pub(super) transcripts: BTreeMap<String, Vec<String>>,
}

/// Runs `jobs` ((binary index, test name)) on `workers` slots. `Err`: a test process could
/// not be started at all (the grader's own failure).
pub(super) fn run_tests(
    jobs: Vec<(usize, String)>,
    bins: &[Binary],
    sandbox: &Sandbox,
    workers: usize,
    limit_of: &(dyn Fn(&str) -> Duration + Sync),
    total_limit: Duration,
    judge_by: &Judge,
) -> Result<Ran, String> {
    let test_start = Instant::now();
    let running = crate::progress::begin("running the tests");
    crate::progress::set_total(jobs.len());
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<Vec<(usize, TestResult)>> = Mutex::new(Vec::new());
    let budgets: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let transcripts: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for slot in 0..workers {
            let (queue, results, budgets, errors, bins, sandbox, limit_of, judge_by, transcripts) =
                (&queue, &results, &budgets, &errors, bins, sandbox, limit_of, judge_by, &transcripts);
            s.spawn(move || loop {
                let Some((b, name)) = queue.lock().unwrap().pop_front() else { break };
                let bin = &bins[b];
                if test_start.elapsed() >= total_limit {
                    crate::progress::test_done(&name);
                    let output = format!(
                        "not run: the grading reached its total limit of {} s ([grading] total_timeout_s)",
                        total_limit.as_secs()
                    );
                    let r = TestResult {
                        binary: bin.krate.clone(),
                        kind: Kind::Integration,
                        name,
                        mode: None,
                        outcome: Outcome::Failed,
                        output,
                        duration: None,
                    };
                    results.lock().unwrap().push((b, r));
                    continue;
                }
                let limit = limit_of(&name);
                match run_one(bin, &name, sandbox, slot, limit) {
                    Ok(run) => {
                        let (outcome, output) = judge(bin, &name, &run, limit, judge_by);
                        if outcome == Outcome::Passed {
                            if let Some(records) = finished_records(&run.transcript) {
                                let lines = records.iter().map(|r| r.to_line()).collect();
                                transcripts.lock().unwrap().insert(transcript_key(bin, &name), lines);
                            }
                        }
                        crate::progress::test_done(&name);
                        if let Some(b) = crate::timing::budget_of(&run.output) {
                            budgets.lock().unwrap().insert(name.clone(), b);
                        }
                        let r = TestResult {
                            binary: bin.krate.clone(),
                            kind: Kind::Integration,
                            name,
                            mode: None,
                            outcome,
                            output,
                            duration: Some(run.duration),
                        };
                        results.lock().unwrap().push((b, r));
                    }
                    Err(e) => errors.lock().unwrap().push(e),
                }
            });
        }
    });
    drop(running);
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        return Err(format!("the grader could not run the tests: {}", errors.join("; ")));
    }
    Ok(Ran {
        results: results.into_inner().unwrap(),
        budgets: budgets.into_inner().unwrap(),
        transcripts: transcripts.into_inner().unwrap(),
    })
}
