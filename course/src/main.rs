//! `cargo course`: the course tool. `cargo course --help` lists the commands, `cargo course
//! <command> --help` explains one.

mod cli;
mod commands;
mod grade;
mod graded_tests;
mod gradescope;
mod handout;
mod isolate;
mod libtest;
mod manifest;
mod mutants;
mod peers;
mod progress;
mod reaper;
mod sync;
mod take;
mod timing;
mod verify;
mod watch;

use clap::Parser;
use cli::{Cli, Cmd};
use manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Cmd::Status)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            progress::clear();
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

/// A path given on the command line, relative to the current directory.
fn cwd_join(p: &Path) -> Result<PathBuf, String> {
    Ok(std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?.join(p))
}

fn run(cmd: Cmd) -> Result<i32, String> {
    if let Cmd::Completions { shell } = cmd {
        cli::print_completions(shell);
        return Ok(0);
    }
    let root = find_root()?;
    let manifest = Manifest::load(&root.join("course.toml"))?;
    if cmd.is_for_instructors() && !root.join("tests/grading").is_dir() {
        // a learner handout: no hidden tests, no solutions
        println!("`cargo course {}` is for instructors: this copy of the course is a learner handout, without\nthe hidden tests. It runs in the instructor repository the handout was made from. Here,\n`cargo course` shows your progress, `cargo course watch` re-runs your tests as you save and\n`cargo course check <chapter>` runs a chapter's tests.", cmd.name());
        return Ok(1);
    }
    match cmd {
        Cmd::Status => commands::status(&root, &manifest),
        Cmd::Watch { chapter } => watch::watch(&root, &manifest, chapter.as_deref()),
        Cmd::Check { chapter } => commands::check(&root, &manifest, &chapter),
        Cmd::Hint { exercise, n } => commands::hint(&manifest, &exercise, n),
        Cmd::Diff { chapter } => commands::diff(&root, &manifest, &chapter),
        Cmd::Figures => commands::figures(&root),
        Cmd::Book { open } => commands::book(&root, &manifest, open),
        Cmd::Sync { check, force } => sync::run(&root, &manifest, check, force),
        Cmd::Grade {
            submission,
            reference,
            out,
            timeout,
            chapters,
            build_timeout,
            unsafe_no_isolation,
            in_place,
        } => {
            let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
            let out = match out {
                Some(o) => cwd.join(o),
                None => root.join("grading-out"),
            };
            if in_place {
                return commands::grade(&root, &manifest, reference, &out);
            }
            let chapters = if chapters.is_empty() { None } else { Some(manifest.chapter_ids(&chapters)?) };
            let submission = submission.map(|s| cwd.join(s));
            isolate::grade(
                &root,
                &manifest,
                &isolate::Options {
                    reference,
                    submission,
                    out,
                    timeout_s: timeout,
                    chapters,
                    build_timeout_s: build_timeout,
                    unsafe_no_isolation,
                },
            )
        }
        Cmd::Verify { quick, chapter } => match (quick, chapter) {
            (true, chapter) => {
                let chapter = chapter.map(|c| manifest.chapter_ids(&[c])).transpose()?;
                verify::quick(&root, &manifest, chapter.as_ref().and_then(|c| c.first()).map(String::as_str))
            }
            (false, _) => verify::verify(&root, &manifest),
        },
        Cmd::Mutants { chapter, iterate } => mutants::run(&root, &manifest, chapter.as_deref(), iterate),
        Cmd::Bench { peers, shape } => peers::run(&root, &peers, shape.as_deref()),
        Cmd::Handout { out, with_solutions } => {
            handout::handout(&root, &manifest, &cwd_join(&out)?, with_solutions)
        }
        Cmd::Classroom { out } => handout::classroom(&root, &manifest, &cwd_join(&out)?),
        Cmd::Gradescope { out } => gradescope::gradescope(&root, &manifest, &cwd_join(&out)?),
        Cmd::Completions { .. } => unreachable!("handled above"),
    }
}
