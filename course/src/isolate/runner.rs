//! Running a grading's tests: a pool of one worker per core, each test in its own process
//! ([`run_one`]) and judged at once ([`judge`]), until the queue is empty or the grading's total
//! limit is reached.

use super::*;

/// What the tests' runs gave.
pub(super) struct Ran {
    /// (binary index, result) per test.
    pub(super) results: Vec<(usize, TestResult)>,
    /// The training budgets the tests declared, by test name.
    pub(super) budgets: BTreeMap<String, String>,
    /// The snapshots each test reported, by test name.
    pub(super) reported: BTreeMap<String, Vec<String>>,
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
    snapshots: &Snapshots,
) -> Result<Ran, String> {
    let test_start = Instant::now();
    let running = crate::progress::begin("running the tests");
    crate::progress::set_total(jobs.len());
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<Vec<(usize, TestResult)>> = Mutex::new(Vec::new());
    let budgets: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let reported: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for slot in 0..workers {
            let (queue, results, budgets, errors, bins, sandbox, limit_of, snapshots, reported) =
                (&queue, &results, &budgets, &errors, bins, sandbox, limit_of, snapshots, &reported);
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
                let token = fresh_token();
                let limit = limit_of(&name);
                match run_one(bin, &name, &token, sandbox, slot, limit) {
                    Ok(run) => {
                        let (outcome, output) = judge(bin, &name, &token, &run, limit, snapshots);
                        let stems: Vec<String> =
                            reported_snapshots(&run.output).into_iter().map(|r| r.0).collect();
                        if !stems.is_empty() {
                            reported.lock().unwrap().insert(name.clone(), stems);
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
        reported: reported.into_inner().unwrap(),
    })
}
