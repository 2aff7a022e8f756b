//! The command line: every command, its arguments and its help, declared once (clap derive).
//! clap generates `--help` per command, suggests the closest command for a typo, and writes
//! shell completions (`cargo course completions bash`).

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "course",
    bin_name = "cargo course",
    about = "The tool of \"Deep Learning for Computer Vision, in Rust\"",
    long_about = "The tool of \"Deep Learning for Computer Vision, in Rust\".\n\nWithout a command it shows your progress: every chapter with its visible tests passed, and\nthe next exercise as file:line.",
    after_help = "Learners: status, watch, check, hint, diff, book.  Instructors: grade, handout, classroom,\ngradescope.  Maintainers: verify, sync, figures, mutants, bench.  `cargo course <command> --help`\nexplains one."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Your progress: every chapter with its visible tests passed, and the next exercise (the default)
    #[command(
        long_about = "Runs the visible tests once and shows, per chapter, how many pass, then the next exercise\nto work on as file:line (most editors and terminals open it on a click)."
    )]
    Status,

    /// Re-run the tests of the exercise you work on whenever you save (keys: h hint, n next, r run, q quit)
    #[command(
        long_about = "Watches exercises/src and re-runs the visible tests of the chapter you edit every time you\nsave a file. Shows the exercise you are on (file:line), its first failing test with the\nmessage and the book section, and moves on to the next exercise when all its tests pass.\n\nKeys: h  the next hint of the exercise\n      n  skip to the next exercise\n      r  run the tests again\n      q  quit\n\nWithout a terminal (piped input), type the key and press Enter."
    )]
    Watch {
        /// Start in this chapter (`ch02` or `2`) instead of at your first unfinished exercise
        chapter: Option<String>,
    },

    /// Run a chapter's visible tests, e.g. `cargo course check ch01` (or `1`)
    #[command(
        long_about = "Runs the visible tests of one chapter (`ch01`, `1`, `appA`) and shows each test, with the\npanic message of each failure. Exit status 1 if any test fails."
    )]
    Check {
        /// The chapter: `ch01`, `1`, `appA`
        chapter: String,
    },

    /// The hints of an exercise, e.g. `cargo course hint one_hot` (or only hint n)
    Hint {
        /// The exercise id, as in the todo!() message (`one_hot`)
        exercise: String,
        /// Only this hint (1-based)
        n: Option<usize>,
    },

    /// Compare your exercises/src/<module>.rs with the reference solution
    #[command(
        long_about = "Shows how exercises/src/<module>.rs differs from solutions/src/<module>.rs (lines starting\nwith - are yours, + are the reference solution's). Needs a copy of the course with solutions."
    )]
    Diff {
        /// The chapter: `ch01` or `1`
        chapter: String,
    },

    /// Build the book into target/book (installs mdbook on first use)
    #[command(
        long_about = "Draws the figures (where the solutions are present), installs mdbook 0.5.4 and mdbook-katex\n0.10.0 with `cargo install --locked` when they are missing, and builds the book into\ntarget/book."
    )]
    Book {
        /// Open target/book/index.html in your browser
        #[arg(long)]
        open: bool,
    },

    /// Draw the book's figures (book/figures/) with the reference solutions
    #[command(long_about = "Runs `cargo run -p solutions --bin figures` (writes book/figures/chNN/*.png).")]
    Figures,

    /// Regenerate the exercise stubs (exercises/src) from the solution regions
    #[command(
        long_about = "Regenerates exercises/src/{lib.rs,chNN_*.rs} from solutions/src: every region\n`// BEGIN SOLUTION <id>: <task>` .. `// END SOLUTION` becomes one todo!() line."
    )]
    Sync {
        /// Write nothing; exit 1 listing the files that differ
        #[arg(long)]
        check: bool,
        /// Overwrite files that look edited by a learner (fewer todo!() than a stub)
        #[arg(long)]
        force: bool,
    },

    /// Grade in isolation: points, and results.json (Gradescope), junit.xml, summary.md
    #[command(
        long_about = "Grades the exercises with the visible tests and the hidden tests (tests/grading) of THIS\ncheckout. From what is graded only the exercise functions of exercises/src/chNN_*.rs\n(and the helpers added next to them) are taken, into the course's stubs; the given code,\nthe tool, the tests, the snapshots and course.toml are this checkout's. Every test runs in\nits own process, with time and memory limits and (as root on Linux) as an unprivileged\nuser that cannot read the hidden tests. Tests only record what they check; the grader\ndecides, comparing each test's transcript with the reference solutions' (graded first\nwhere missing). Points per exercise come from course.toml (split over its\ntests, by [exercise.weights] where given).\n\nChapters that do not compile, read files at compile time (include_str!, ...) or link\nelsewhere score 0; an exercise that calls what it must not (forbid in course.toml) scores\n0; the others are graded. A --submission is graded only with isolation (root), unless\n--unsafe-no-isolation. Exit status 0 whatever the score; 2 when nothing could be graded."
    )]
    Grade {
        /// Grade DIR/exercises/src (a learner's checkout or an unpacked zip)
        #[arg(long, value_name = "DIR", conflicts_with = "reference")]
        submission: Option<PathBuf>,
        /// Grade the reference solutions (full marks expected)
        #[arg(long)]
        reference: bool,
        /// Where results.json, junit.xml and summary.md go [default: grading-out/ at the repo root]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The wall-clock limit per test [default: [grading] timeout_s of course.toml]
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
        timeout: Option<u64>,
        /// Grade only these chapters (e.g. `ch01,ch02`): only their tests are built and run
        #[arg(long, value_name = "CHAPTERS", value_delimiter = ',')]
        chapters: Vec<String>,
        /// The wall-clock limit per cargo command of the build [default: [grading] build_timeout_s]
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
        build_timeout: Option<u64>,
        /// Grade a --submission even where the tests cannot be isolated (not root on Linux):
        /// its code can then read the hidden tests and the solutions
        #[arg(long)]
        unsafe_no_isolation: bool,
        /// The quick mode without isolation: plain cargo test in this checkout
        #[arg(long, conflicts_with_all = ["submission", "chapters"])]
        in_place: bool,
    },

    /// The project's test command (format, lints, stubs, tests, book, CUDA, handout, red team)
    #[command(
        long_about = "The project's test command: fmt, clippy, sync --check, the solutions pass every graded test\nin the grader's isolation and the stubs fail each with a todo!, test counts and snapshots\nper exercise, the book builds offline with KaTeX, the CUDA path type-checks, the handout\nbuilds, and the grader defeats the red-team submissions. Ends with a timing table.\nExit status 1 if any step fails.\n\n--quick is the maintainer's edit loop: fmt, clippy, sync --check, and for one chapter (or\nall) the solutions pass and the stubs fail."
    )]
    Verify {
        /// Only format, lints, stubs, and the graded tests on the solutions and on the stubs
        #[arg(long)]
        quick: bool,
        /// With --quick: only this chapter's tests (`ch03` or `3`)
        #[arg(long, requires = "quick")]
        chapter: Option<String>,
    },

    /// Mutation testing: the kill rate of the graded tests on mutated solutions (cargo-mutants)
    #[command(
        long_about = "cargo-mutants (installed with `cargo install --locked` when missing) makes small changes to\nsolutions/src/<module>.rs and runs the chapter's graded tests (visible and hidden) on each.\nPrints per chapter the kill rate, caught / (caught + missed), without unviable mutants and\nthe equivalent ones listed in course/mutants-equivalent.toml, lists the missed mutants, and\nwrites target/course/mutants-summary.md. Works in a copy (target/course/mutants/tree), never\nin your tree. Without a chapter: every written chapter. Exit status 1 if a chapter is below\n90 %."
    )]
    Mutants {
        /// The chapter (`ch03` or `3`); every written chapter without it
        chapter: Option<String>,
        /// Test again only the mutants the last run did not catch (after adding tests); the
        /// others keep their verdicts (caught, or unviable)
        #[arg(long)]
        iterate: bool,
    },

    /// Time our conv2d and CNN training step against JAX and NumPy (`--peers conv2d`)
    #[command(
        long_about = "Times convolutions forward + backward (L = sum(y * R)) and one Adam training step of the\nchapter's CNN (batch 64) in a release build, then the same problems in JAX (jit of\nvalue_and_grad, CPU) and NumPy (im2col, today's benchmark only), on this machine, each the\nmedian of 20 runs after 3 warm-ups (RUNS=n to change). The convolutions are a suite\n(courselib::conv::workloads::SUITE: batch 64, 8 -> 16, 28x28, 3x3, padding 1; a first\nlayer; a ResNet-like middle layer; a strided 5x5; a 1x1; a transposed 4x4 stride 2), or\nthe one geometry of --shape. Prints one line per problem: `<problem> ours_ms=.. jax_ms=..\nnumpy_ms=.. gflops=.. ratio=..`, ratio = ours / JAX, then `conv2d_suite` with the geometric\nmeans. The first run creates target/course/peers-venv and installs jax and numpy with pip\n(needs the network). Not part of `verify`."
    )]
    Bench {
        /// The comparison to run
        #[arg(long, value_name = "PROBLEM", value_parser = clap::builder::PossibleValuesParser::new(crate::peers::PROBLEMS))]
        peers: String,
        /// One convolution instead of the suite: B,C,H,W,O,K,S,P (batch, channels in, height,
        /// width, channels out, kernel, stride, padding), with a `t` after it for a
        /// transposed convolution (`32,32,14,14,16,4,2,1t`)
        #[arg(long, value_name = "B,C,H,W,O,K,S,P")]
        shape: Option<String>,
    },

    /// Write the learners' repository (no hidden tests, no solutions)
    #[command(
        long_about = "Writes the learners' repository into DIR: the book, the exercise stubs with their visible\ntests, courselib, datasets, the course tool and a learner README; no hidden tests,\nsnapshots, benches, CI or solutions, and a root Cargo.toml without them. DIR must be empty\nor a previous handout (its .git is kept)."
    )]
    Handout {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Include solutions/ (for tutors; `cargo course diff` then works)
        #[arg(long)]
        with_solutions: bool,
    },

    /// GitHub Classroom autograding configuration for a handout
    #[command(
        long_about = "Writes DIR/.github/classroom/autograding.json and DIR/.github/workflows/classroom.yml for\nGitHub Classroom: one test per exercise (its visible tests), with its points from\ncourse.toml. DIR is the learners' template repository (a handout)."
    )]
    Classroom {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },

    /// A Gradescope autograder bundle (DIR/autograder.zip); keep it private
    #[command(
        long_about = "Writes a Gradescope autograder into DIR/autograder (setup.sh, run_autograder, README.md and\na copy of this repository, hidden tests included) and zips it to DIR/autograder.zip when\n`zip` is installed. Keep it private."
    )]
    Gradescope {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },

    /// Shell completions for a `course` alias: `source <(cargo course completions bash)`
    #[command(
        long_about = "Prints a completion script for the shell. cargo completes its own commands, not the\narguments of an alias, so the script completes a shell alias named `course`:\n\n    alias course='cargo course'\n    source <(cargo course completions bash)     # in ~/.bashrc\n\nthen `course h<TAB>`, `course check <TAB>`. zsh, fish, elvish and PowerShell work the same way."
    )]
    Completions { shell: clap_complete::Shell },
}

impl Cmd {
    /// The command's name as typed.
    pub fn name(&self) -> String {
        format!("{self:?}").split([' ', '{']).next().unwrap_or_default().to_ascii_lowercase()
    }

    /// Commands that need the instructor repository (hidden tests, solutions).
    pub fn is_for_instructors(&self) -> bool {
        matches!(
            self,
            Cmd::Grade { .. }
                | Cmd::Verify { .. }
                | Cmd::Mutants { .. }
                | Cmd::Handout { .. }
                | Cmd::Gradescope { .. }
        )
    }
}

/// The completion script for `shell`, for the alias `course`.
pub fn print_completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    cmd = cmd.bin_name("course");
    clap_complete::generate(shell, &mut cmd, "course", &mut std::io::stdout());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("course").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_and_options_parse() {
        assert!(parse(&[]).unwrap().command.is_none());
        assert!(matches!(
            parse(&["hint", "one_hot", "2"]).unwrap().command,
            Some(Cmd::Hint { n: Some(2), .. })
        ));
        match parse(&["grade", "--chapters", "ch01,ch02", "--timeout", "10"]).unwrap().command {
            Some(Cmd::Grade { chapters, timeout, .. }) => {
                assert_eq!(chapters, ["ch01", "ch02"]);
                assert_eq!(timeout, Some(10));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["grade", "--reference", "--submission", "x"]).is_err());
        assert!(parse(&["grade", "--timeout", "0"]).is_err());
        assert!(parse(&["verify", "--chapter", "ch01"]).is_err(), "--chapter needs --quick");
        assert!(matches!(
            parse(&["verify", "--quick", "--chapter", "3"]).unwrap().command,
            Some(Cmd::Verify { quick: true, chapter: Some(_) })
        ));
        assert_eq!(parse(&["status"]).unwrap().command.unwrap().name(), "status");
        assert_eq!(parse(&["grade"]).unwrap().command.unwrap().name(), "grade");
    }

    #[test]
    fn a_typo_gets_a_suggestion() {
        let err = parse(&["stauts"]).unwrap_err().to_string();
        assert!(err.contains("status"), "{err}");
        let err = parse(&["check"]).unwrap_err().to_string();
        assert!(err.contains("<CHAPTER>"), "{err}");
    }

    #[test]
    fn completions_name_every_command() {
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "course", &mut out);
        let script = String::from_utf8(out).unwrap();
        for name in ["status", "watch", "check", "hint", "grade", "verify", "completions"] {
            assert!(script.contains(name), "{name} missing");
        }
        assert!(script.contains("complete -F _course"), "registered for the `course` alias");
    }
}
