//! `cargo course`: the course tool (status, check, hint, diff, figures, book, sync, grade,
//! verify). `cargo course --help` lists the commands.

mod commands;
mod grade;
mod gradescope;
mod handout;
mod isolate;
mod libtest;
mod manifest;
mod mutants;
mod peers;
mod sync;
mod verify;

use manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
cargo course: the tool of \"Deep Learning for Computer Vision, in Rust\"

Usage: cargo course [COMMAND] [ARGS]

Learning:
  status               every chapter with its visible tests passed (the default command)
  check <chapter>      run a chapter's visible tests, e.g. `cargo course check ch01` (or `1`)
  hint <exercise> [n]  the hints of an exercise (or only hint n), e.g. `cargo course hint one_hot`
  diff <chapter>       your exercises/src/<module>.rs against the reference solution
  figures              draw the book's figures (book/figures/) with the reference solutions
  book [--open]        build the book into target/book (installs mdbook on first use)

Course development:
  sync [--check] [--force]        regenerate exercises/src from the solution regions
  grade [--submission DIR | --reference] [--out DIR]
                                  grade in isolation -> points, DIR/results.json (Gradescope)
  verify                          the project's full check (format, lints, stubs, tests, book)
  mutants [chapter]               kill rate of the graded tests on mutated solutions (cargo-mutants)
  bench --peers conv2d            our conv2d and CNN training step against JAX and NumPy

Handing out (instructors):
  handout --out DIR [--with-solutions]  the learners' repository (no hidden tests, no solutions)
  classroom --out DIR                   GitHub Classroom autograding config for DIR (a handout)
  gradescope --out DIR                  a Gradescope autograder bundle (DIR/autograder.zip)

Run `cargo course <command> --help` for details.
";

fn command_help(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "status" => "Usage: cargo course status\n\nRuns the visible tests once and shows, per chapter, how many pass, then the next\nexercise to work on.\n",
        "check" => "Usage: cargo course check <chapter>\n\nRuns the visible tests of one chapter (`ch01`, `1`, `appA`) and shows each test,\nwith the panic message of each failure.\nExit status 1 if any test fails.\n",
        "hint" => "Usage: cargo course hint <exercise> [n]\n\nShows all hints of an exercise, or only hint n (1-based).\n",
        "diff" => "Usage: cargo course diff <chapter>\n\nShows how exercises/src/<module>.rs differs from solutions/src/<module>.rs\n(lines starting with - are yours, + are the reference solution's).\n",
        "figures" => "Usage: cargo course figures\n\nRuns `cargo run -p solutions --bin figures` (writes book/figures/chNN/*.png).\n",
        "book" => "Usage: cargo course book [--open]\n\nDraws the figures, installs mdbook 0.5.4 and mdbook-katex 0.10.0 with\n`cargo install --locked` when they are missing, and builds the book into target/book.\n--open opens target/book/index.html in your browser.\n",
        "sync" => "Usage: cargo course sync [--check] [--force]\n\nRegenerates exercises/src/{lib.rs,chNN_*.rs} from solutions/src: every region\n`// BEGIN SOLUTION <id>: <task>` .. `// END SOLUTION` becomes one todo!() line.\n--check   write nothing; exit 1 listing the files that differ\n--force   overwrite files that look edited by a learner (fewer todo!() than a stub)\n",
        "grade" => "Usage: cargo course grade [--submission DIR | --reference] [--out DIR] [--timeout SECS] [--in-place]

Grades the exercises with the visible tests and the hidden tests (tests/grading) of THIS
checkout. Only the chapter files exercises/src/chNN_*.rs come from what is graded; the
tool, the tests, the snapshots and course.toml are this checkout's. Every test runs in
its own process, with a time limit, a memory limit and (as root on Linux) as an
unprivileged user that cannot read the hidden tests; it passes only if it prints the
proof derived from a fresh secret token. Points per exercise come from course.toml
(split over its tests, by [exercise.weights] where given).
--submission DIR  grade DIR/exercises/src (a learner's checkout or an unpacked zip)
--reference       grade the reference solutions (full marks expected)
--out DIR         where results.json (Gradescope), junit.xml and summary.md go
                  (default: grading-out/ at the repo root)
--timeout SECS    the wall-clock limit per test (default: [grading] timeout_s, 60)
--in-place        the old quick mode: plain cargo test in this checkout, no isolation
Chapters that do not compile (or use include_str!, #[path], env!) score 0; the others
are graded. Exit status 0 whatever the score; 2 when nothing could be graded.
",
        "mutants" => "Usage: cargo course mutants [chapter]\n\nMutation testing: cargo-mutants (installed with `cargo install --locked` when missing)\nmakes small changes to solutions/src/<module>.rs and runs the graded tests (visible\nand hidden) on each. Prints per chapter the kill rate, caught / (caught + missed),\nwithout unviable mutants and the equivalent ones listed in course/mutants-equivalent.toml,\nlists the missed mutants, and writes target/course/mutants-summary.md. Works in a copy\n(target/course/mutants/tree), never in your tree; the first run builds it (minutes).\nWithout a chapter: every written chapter. Exit status 1 if a chapter is below 90 %.\n",
        "bench" => "Usage: cargo course bench --peers conv2d

Times our conv2d forward + backward (batch 64, 8 -> 16 channels, 28x28, 3x3, padding 1,
L = sum(y * R)) and one Adam training step of the chapter's CNN (batch 64) in a release
build, then the same problems in JAX (jit of value_and_grad, CPU) and NumPy (im2col),
on this machine, each the median of 20 runs after 3 warm-ups (RUNS=n to change).
Prints one line per problem: `<problem> ours_ms=.. jax_ms=.. numpy_ms=.. ratio=..`,
ratio = ours / JAX. The first run creates target/course/peers-venv and installs jax and
numpy with pip (needs the network). Not part of `verify`.
",
        "verify" => "Usage: cargo course verify\n\nThe project's test command: fmt, clippy, sync --check, the solutions pass every test,\nthe stubs fail every graded test with a todo!, test counts and snapshots per exercise,\nthe book builds offline with KaTeX, and the CUDA path type-checks.\nExit status 1 if any step fails.\n",
        "handout" => "Usage: cargo course handout --out DIR [--with-solutions]\n\nWrites the learners' repository into DIR: the book, the exercise stubs with their\nvisible tests, courselib, datasets, the course tool and a learner README; no hidden tests,\nsnapshots, benches, CI or solutions, and a root Cargo.toml without them. DIR must be\nempty or a previous handout (its .git is kept).\n--with-solutions  include solutions/ (for tutors; `cargo course diff` then works)\n",
        "classroom" => "Usage: cargo course classroom --out DIR\n\nWrites DIR/.github/classroom/autograding.json and DIR/.github/workflows/classroom.yml\nfor GitHub Classroom: one test per exercise (its visible tests), with its points from\ncourse.toml. DIR is the learners' template repository (a handout).\n",
        "gradescope" => "Usage: cargo course gradescope --out DIR\n\nWrites a Gradescope autograder into DIR/autograder (setup.sh, run_autograder, README.md\nand a copy of this repository, hidden tests included) and zips it to DIR/autograder.zip\nwhen `zip` is installed. Keep it private.\n",
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The directory with `course.toml`, walking up from the current directory.
fn find_root() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    cwd.ancestors().find(|d| d.join("course.toml").is_file()).map(Path::to_path_buf).ok_or_else(|| {
        format!(
            "course.toml not found in {} or any parent directory: run cargo course inside the course",
            cwd.display()
        )
    })
}

/// Options and positional arguments of a command; unknown options are errors.
struct Args<'a> {
    flags: Vec<&'a str>,
    positional: Vec<&'a str>,
    out: Option<&'a str>,
}

fn parse_args<'a>(
    cmd: &str,
    args: &'a [String],
    flags: &[&str],
    takes_out: bool,
) -> Result<Args<'a>, String> {
    let mut parsed = Args { flags: Vec::new(), positional: Vec::new(), out: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if takes_out && (a == "--out" || a.starts_with("--out=")) {
            parsed.out = Some(match a.strip_prefix("--out=") {
                Some(v) => v,
                None => it.next().ok_or("--out needs a directory")?,
            });
        } else if a.starts_with('-') && a.len() > 1 {
            if !flags.contains(&a.as_str()) {
                return Err(format!("unknown option `{a}` for `{cmd}` (see `cargo course {cmd} --help`)"));
            }
            parsed.flags.push(a);
        } else {
            parsed.positional.push(a);
        }
    }
    Ok(parsed)
}

fn run(args: &[String]) -> Result<i32, String> {
    let cmd = args.first().map(String::as_str).unwrap_or("status");
    if matches!(cmd, "-h" | "--help" | "help") {
        match args.get(1).and_then(|c| command_help(c)) {
            Some(h) => print!("{h}"),
            None => print!("{HELP}"),
        }
        return Ok(0);
    }
    let Some(help) = command_help(cmd) else {
        return Err(format!("unknown command `{cmd}`\n\n{HELP}"));
    };
    let rest = args.get(1..).unwrap_or_default();
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        print!("{help}");
        return Ok(0);
    }
    let root = find_root()?;
    let manifest = Manifest::load(&root.join("course.toml"))?;
    if matches!(cmd, "grade" | "verify" | "mutants" | "handout" | "gradescope")
        && !root.join("tests/grading").is_dir()
    {
        // a learner handout: no hidden tests, no solutions
        println!("`cargo course {cmd}` is for instructors: this copy of the course is a learner handout, without\nthe hidden tests. It runs in the instructor repository the handout was made from. Here,\n`cargo course` shows your progress and `cargo course check <chapter>` runs a chapter's tests.");
        return Ok(1);
    }
    let one = |a: &Args, what: &str| -> Result<String, String> {
        match a.positional.as_slice() {
            [x] => Ok(x.to_string()),
            _ => Err(format!("expected one {what}\n\n{help}")),
        }
    };
    match cmd {
        "status" => {
            parse_none(cmd, rest, help)?;
            commands::status(&root, &manifest)
        }
        "check" => {
            let a = parse_args(cmd, rest, &[], false)?;
            commands::check(&root, &manifest, &one(&a, "chapter")?)
        }
        "hint" => {
            let a = parse_args(cmd, rest, &[], false)?;
            let (id, n) = match a.positional.as_slice() {
                [id] => (*id, None),
                [id, n] => {
                    (*id, Some(n.parse::<usize>().map_err(|_| format!("hint number `{n}` is not a number"))?))
                }
                _ => return Err(format!("expected an exercise id and maybe a number\n\n{help}")),
            };
            commands::hint(&manifest, id, n)
        }
        "diff" => {
            let a = parse_args(cmd, rest, &[], false)?;
            commands::diff(&root, &manifest, &one(&a, "chapter")?)
        }
        "figures" => {
            parse_none(cmd, rest, help)?;
            commands::figures(&root)
        }
        "book" => {
            let a = parse_args(cmd, rest, &["--open"], false)?;
            if !a.positional.is_empty() {
                return Err(format!("unexpected argument\n\n{help}"));
            }
            commands::book(&root, &manifest, !a.flags.is_empty())
        }
        "sync" => {
            let a = parse_args(cmd, rest, &["--check", "--force"], false)?;
            if !a.positional.is_empty() {
                return Err(format!("unexpected argument\n\n{help}"));
            }
            sync::run(&root, &manifest, a.flags.contains(&"--check"), a.flags.contains(&"--force"))
        }
        "grade" => {
            let (submission, timeout_s, rest) = grade_options(rest)?;
            let a = parse_args(cmd, &rest, &["--reference", "--in-place"], true)?;
            if !a.positional.is_empty() {
                return Err(format!("unexpected argument\n\n{help}"));
            }
            let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
            let out = match a.out {
                Some(o) => cwd.join(o),
                None => root.join("grading-out"),
            };
            let reference = a.flags.contains(&"--reference");
            if reference && submission.is_some() {
                return Err(format!("--reference and --submission exclude each other\n\n{help}"));
            }
            if a.flags.contains(&"--in-place") {
                return commands::grade(&root, &manifest, reference, &out);
            }
            let submission = submission.map(|s| cwd.join(s));
            isolate::grade(&root, &manifest, &isolate::Options { reference, submission, out, timeout_s })
        }
        "bench" => {
            let a = parse_args(cmd, rest, &["--peers"], false)?;
            match (a.flags.as_slice(), a.positional.as_slice()) {
                (["--peers"], [problem]) => peers::run(&root, problem),
                _ => Err(format!("expected --peers <problem>\n\n{help}")),
            }
        }
        "verify" => {
            parse_none(cmd, rest, help)?;
            verify::verify(&root, &manifest)
        }
        "mutants" => {
            let a = parse_args(cmd, rest, &[], false)?;
            if a.positional.len() > 1 {
                return Err(format!("expected at most one chapter\n\n{help}"));
            }
            mutants::run(&root, &manifest, a.positional.first().copied())
        }
        "handout" => {
            let a = parse_args(cmd, rest, &["--with-solutions"], true)?;
            let out = a
                .out
                .filter(|_| a.positional.is_empty())
                .ok_or_else(|| format!("expected --out DIR\n\n{help}"))?;
            handout::handout(&root, &manifest, &cwd_join(out)?, !a.flags.is_empty())
        }
        "classroom" => {
            let a = parse_args(cmd, rest, &[], true)?;
            let out = a
                .out
                .filter(|_| a.positional.is_empty())
                .ok_or_else(|| format!("expected --out DIR\n\n{help}"))?;
            handout::classroom(&root, &manifest, &cwd_join(out)?)
        }
        "gradescope" => {
            let a = parse_args(cmd, rest, &[], true)?;
            let out = a
                .out
                .filter(|_| a.positional.is_empty())
                .ok_or_else(|| format!("expected --out DIR\n\n{help}"))?;
            gradescope::gradescope(&root, &manifest, &cwd_join(out)?)
        }
        _ => unreachable!("command_help knows every command"),
    }
}

/// A path given on the command line, relative to the current directory.
fn cwd_join(p: &str) -> Result<PathBuf, String> {
    Ok(std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?.join(p))
}

/// `grade`'s `--submission` and `--timeout` values and the other arguments.
type GradeOptions = (Option<String>, Option<u64>, Vec<String>);

/// Takes `--submission DIR` and `--timeout SECS` out of `grade`'s arguments.
fn grade_options(args: &[String]) -> Result<GradeOptions, String> {
    let (mut submission, mut timeout, mut rest) = (None, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--submission=") {
            submission = Some(v.to_string());
        } else if a == "--submission" {
            submission = Some(it.next().ok_or("--submission needs a directory")?.clone());
        } else if a == "--timeout" || a.starts_with("--timeout=") {
            let v = match a.strip_prefix("--timeout=") {
                Some(v) => v.to_string(),
                None => it.next().ok_or("--timeout needs seconds")?.clone(),
            };
            timeout = Some(
                v.parse::<u64>()
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or(format!("--timeout `{v}` is not a positive number"))?,
            );
        } else {
            rest.push(a.clone());
        }
    }
    Ok((submission, timeout, rest))
}

fn parse_none(cmd: &str, rest: &[String], help: &str) -> Result<(), String> {
    let a = parse_args(cmd, rest, &[], false)?;
    if a.positional.is_empty() {
        Ok(())
    } else {
        Err(format!("`{cmd}` takes no arguments\n\n{help}"))
    }
}
