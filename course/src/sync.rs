//! `cargo course sync`: generate the exercise stubs from the solutions.
//!
//! In `solutions/src/{lib.rs, chNN_*.rs}` a solution region runs from a line whose trimmed
//! text starts with `// BEGIN SOLUTION <exercise_id>: <task text>` to the next line whose
//! trimmed text is `// END SOLUTION`. In the generated `exercises/src/<same file>` each
//! region becomes one `todo!("<chapter> <exercise_id>: <task>; see book section <N.M>")`
//! line, indented like the BEGIN marker; everything else is copied, with `solutions::`
//! replaced by `exercises::`.

use crate::manifest::Manifest;
use std::collections::HashSet;
use std::path::Path;

const BEGIN: &str = "// BEGIN SOLUTION";
const END: &str = "// END SOLUTION";

/// The stub text for one solutions file. `file` names it in errors; `module` is the file's
/// stem when it is a chapter module, so that a region of another chapter's exercise is caught.
pub fn generate(
    source: &str,
    file: &str,
    module: Option<&str>,
    manifest: &Manifest,
    seen: &mut HashSet<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(source.len());
    let mut open: Option<usize> = None; // line number of the open BEGIN marker
    let mut errors = Vec::new();
    for (i, line) in source.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if let Some(marker) = trimmed.strip_prefix(BEGIN) {
            if let Some(start) = open {
                errors.push(format!(
                    "{file}:{n}: a solution region begins inside the region of line {start} (regions cannot nest)"
                ));
                continue;
            }
            open = Some(n);
            let indent = &line[..line.len() - line.trim_start().len()];
            let eol = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            match todo_line(marker, manifest, module) {
                Ok((id, todo)) => {
                    seen.insert(id);
                    out.push_str(indent);
                    out.push_str(&todo);
                    out.push_str(eol);
                }
                Err(e) => errors.push(format!("{file}:{n}: {e}")),
            }
        } else if trimmed == END {
            if open.take().is_none() {
                errors
                    .push(format!("{file}:{n}: `{END}` without a `{BEGIN} <exercise_id>: <task>` before it"));
            }
        } else if open.is_none() {
            out.push_str(&line.replace("solutions::", "exercises::"));
        }
    }
    if let Some(start) = open {
        errors.push(format!("{file}:{start}: this solution region has no `{END}` line"));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("\n"))
    }
}

/// `rest` is the marker after `// BEGIN SOLUTION`: ` <exercise_id>: <task text>`.
fn todo_line(rest: &str, manifest: &Manifest, module: Option<&str>) -> Result<(String, String), String> {
    let usage = format!("expected `{BEGIN} <exercise_id>: <task text>`");
    if !rest.starts_with(' ') {
        return Err(usage);
    }
    let (id, task) = rest.split_once(':').ok_or_else(|| usage.clone())?;
    let (id, task) = (id.trim(), task.trim());
    if id.is_empty() || task.is_empty() {
        return Err(usage);
    }
    let ex = manifest.exercise(id).ok_or_else(|| {
        format!("exercise `{id}` is not in course.toml (add an [[exercise]] entry or fix the id)")
    })?;
    let chapter = manifest.chapter_of(ex);
    if let (Some(file_module), Some(ch_module)) = (module, chapter.module.as_deref()) {
        if file_module != ch_module
            && manifest.chapters.iter().any(|c| c.module.as_deref() == Some(file_module))
        {
            return Err(format!(
                "exercise `{id}` belongs to {} (module {ch_module}), not to this file",
                chapter.id
            ));
        }
    }
    let message = format!("{} {id}: {task}; see book section {}", chapter.id, ex.section);
    Ok((id.to_string(), format!("todo!(\"{}\")", escape(&message))))
}

/// The solution as the learner would write it: without region markers, naming `exercises`.
pub fn reference_text(source: &str) -> String {
    source
        .split_inclusive('\n')
        .filter(|l| !l.trim().starts_with(BEGIN) && l.trim() != END)
        .map(|l| l.replace("solutions::", "exercises::"))
        .collect()
}

/// Escapes a message for a string literal that is also a format string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
    out
}

/// `lib.rs` and the chapter modules `chNN_*.rs` / `appX_*.rs`.
pub fn is_synced_file(name: &str) -> bool {
    if name == "lib.rs" {
        return true;
    }
    let Some(stem) = name.strip_suffix(".rs") else {
        return false;
    };
    let b = stem.as_bytes();
    let prefix = if stem.starts_with("ch") {
        b.len() > 5 && b[2].is_ascii_digit() && b[3].is_ascii_digit() && b[4] == b'_'
    } else if stem.starts_with("app") {
        b.len() > 5 && b[3].is_ascii_uppercase() && b[4] == b'_'
    } else {
        false
    };
    prefix && crate::manifest::is_ident(stem)
}

/// The workspace's edition (`[workspace.package] edition` of the root Cargo.toml).
fn edition(root: &Path) -> String {
    std::fs::read_to_string(root.join("Cargo.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("workspace")?.get("package")?.get("edition")?.as_str().map(String::from))
        .unwrap_or_else(|| "2021".into())
}

/// Formats a generated stub with rustfmt (the repo's rustfmt.toml), as `cargo fmt` would:
/// a `todo!("...")` longer than the line width is wrapped, a closure whose body became one
/// expression loses its braces. Without rustfmt the text stays as generated.
fn rustfmt(root: &Path, text: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("rustfmt")
        .args(["--edition", &edition(root)])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: cannot run rustfmt ({e}): the stubs are not formatted");
            return Ok(text.to_string());
        }
    };
    let mut stdin = child.stdin.take().expect("piped");
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("cannot be formatted: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!(
            "is not valid Rust (rustfmt says):\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("cannot be formatted: {e}"))
}

pub struct Planned {
    /// File name inside `exercises/src`.
    pub name: String,
    pub generated: String,
    /// The current file, if any.
    pub existing: Option<String>,
}

impl Planned {
    pub fn differs(&self) -> bool {
        self.existing.as_deref() != Some(self.generated.as_str())
    }
    /// A learner has worked in it: it differs and has fewer `todo!(` than a fresh stub.
    pub fn looks_edited(&self) -> bool {
        match &self.existing {
            Some(old) => self.differs() && count_todos(old) < count_todos(&self.generated),
            None => false,
        }
    }
}

/// `todo!(` in code, not in comments (doc comments may mention `todo!()`).
fn count_todos(text: &str) -> usize {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| l.matches("todo!(").count()).sum()
}

pub struct Plan {
    pub files: Vec<Planned>,
    /// Synced-looking files in exercises/src that have no source in solutions/src.
    pub orphans: Vec<String>,
    /// Exercises of written chapters with no solution region anywhere.
    pub without_region: Vec<String>,
}

fn rs_files(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_synced_file(n))
        .collect();
    names.sort();
    Ok(names)
}

pub fn plan(root: &Path, manifest: &Manifest) -> Result<Plan, String> {
    let src = root.join("solutions/src");
    let dst = root.join("exercises/src");
    if !src.is_dir() {
        return Err("solutions/src is not here (a learner handout): there is nothing to sync from".into());
    }
    let names = rs_files(&src)?;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for name in &names {
        let path = src.join(name);
        let source =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let module = name.strip_suffix(".rs").filter(|s| *s != "lib");
        let label = format!("solutions/src/{name}");
        match generate(&source, &label, module, manifest, &mut seen)
            .and_then(|g| rustfmt(root, &g).map_err(|e| format!("{label}: the generated stub {e}")))
        {
            Ok(generated) => {
                let existing = std::fs::read_to_string(dst.join(name)).ok();
                files.push(Planned { name: name.clone(), generated, existing });
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let orphans = if dst.is_dir() {
        rs_files(&dst)?.into_iter().filter(|n| !names.contains(n)).collect()
    } else {
        Vec::new()
    };
    let without_region = manifest
        .exercises
        .iter()
        .filter(|e| !seen.contains(&e.id))
        .map(|e| format!("{} {}", e.chapter, e.id))
        .collect();
    Ok(Plan { files, orphans, without_region })
}

/// `cargo course sync [--check] [--force]`; returns the exit code.
pub fn run(root: &Path, manifest: &Manifest, check: bool, force: bool) -> Result<i32, String> {
    let plan = plan(root, manifest)?;
    for w in &plan.without_region {
        eprintln!("note: exercise {w} has no solution region in solutions/src yet");
    }
    let differing: Vec<&Planned> = plan.files.iter().filter(|f| f.differs()).collect();
    if check {
        if differing.is_empty() && plan.orphans.is_empty() {
            println!("sync --check: exercises/src matches the solutions ({} files)", plan.files.len());
            return Ok(0);
        }
        for f in &differing {
            let what = if f.existing.is_some() { "differs from" } else { "is missing; generate it from" };
            println!("exercises/src/{} {what} solutions/src/{}", f.name, f.name);
        }
        for o in &plan.orphans {
            println!("exercises/src/{o} has no source solutions/src/{o}");
        }
        println!("Run `cargo course sync` to regenerate the stubs.");
        return Ok(1);
    }
    let edited: Vec<&&Planned> = differing.iter().filter(|f| f.looks_edited()).collect();
    if !edited.is_empty() && !force {
        for f in &edited {
            eprintln!(
                "exercises/src/{} has fewer todo!() than a fresh stub: it looks like your work",
                f.name
            );
        }
        eprintln!("Nothing written. Use `cargo course sync --force` to overwrite anyway.");
        return Ok(1);
    }
    let dst = root.join("exercises/src");
    std::fs::create_dir_all(&dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    for f in &differing {
        let path = dst.join(&f.name);
        std::fs::write(&path, &f.generated).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote exercises/src/{}", f.name);
    }
    for o in &plan.orphans {
        println!("note: exercises/src/{o} has no source in solutions/src (left alone)");
    }
    println!("sync: {} written, {} unchanged", differing.len(), plan.files.len() - differing.len());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        crate::manifest::two_chapter_sample()
    }

    fn gen(src: &str) -> Result<String, String> {
        gen_in(src, Some("ch01_one"))
    }

    fn gen_in(src: &str, module: Option<&str>) -> Result<String, String> {
        generate(src, "solutions/src/f.rs", module, &manifest(), &mut HashSet::new())
    }

    #[test]
    fn replaces_regions_and_crate_names() {
        let src = "\
//! use solutions::ch01_one::top_k;
pub fn top_k(x: &[f32]) -> f32 {
    // BEGIN SOLUTION top_k: count the misses {carefully}, \"quoted\"
    let y = x.len();
    y as f32
    // END SOLUTION
}
";
        let mut seen = HashSet::new();
        let out = generate(src, "f.rs", Some("ch01_one"), &manifest(), &mut seen).unwrap();
        assert_eq!(
            out,
            "\
//! use exercises::ch01_one::top_k;
pub fn top_k(x: &[f32]) -> f32 {
    todo!(\"ch01 top_k: count the misses {{carefully}}, \\\"quoted\\\"; see book section 1.2\")
}
"
        );
        assert!(seen.contains("top_k"));
    }

    #[test]
    fn keeps_crlf_and_missing_final_newline() {
        let src = "a\r\n\t// BEGIN SOLUTION top_k: t\r\nx\r\n\t// END SOLUTION\r\nb";
        assert_eq!(gen(src).unwrap(), "a\r\n\ttodo!(\"ch01 top_k: t; see book section 1.2\")\r\nb");
    }

    #[test]
    fn several_regions_and_empty_region() {
        let src = "// BEGIN SOLUTION top_k: a\n// END SOLUTION\nmid\n  // BEGIN SOLUTION top_k: b\n1\n  // END SOLUTION\n";
        assert_eq!(
            gen(src).unwrap(),
            "todo!(\"ch01 top_k: a; see book section 1.2\")\nmid\n  todo!(\"ch01 top_k: b; see book section 1.2\")\n"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = gen("x\n// BEGIN SOLUTION nope: t\n// END SOLUTION\n").unwrap_err();
        assert!(err.starts_with("solutions/src/f.rs:2: exercise `nope` is not in course.toml"), "{err}");

        let err = gen("x\n// BEGIN SOLUTION top_k: t\ny\n").unwrap_err();
        assert_eq!(err, "solutions/src/f.rs:2: this solution region has no `// END SOLUTION` line");

        let err =
            gen("// BEGIN SOLUTION top_k: t\n// BEGIN SOLUTION top_k: u\n// END SOLUTION\n").unwrap_err();
        assert!(
            err.starts_with("solutions/src/f.rs:2: a solution region begins inside the region of line 1"),
            "{err}"
        );

        let err = gen("a\nb\n  // END SOLUTION\n").unwrap_err();
        assert!(err.starts_with("solutions/src/f.rs:3: `// END SOLUTION` without"), "{err}");

        for bad in [
            "// BEGIN SOLUTION top_k",
            "// BEGIN SOLUTION top_k:",
            "// BEGIN SOLUTIONtop_k: x",
            "// BEGIN SOLUTION : x",
        ] {
            let err = gen(&format!("{bad}\n// END SOLUTION\n")).unwrap_err();
            assert!(err.contains("expected `// BEGIN SOLUTION <exercise_id>: <task text>`"), "{bad}: {err}");
        }
    }

    #[test]
    fn region_of_another_chapters_exercise_is_an_error() {
        let err = gen("// BEGIN SOLUTION relu: t\n// END SOLUTION\n").unwrap_err();
        assert!(err.contains("`relu` belongs to ch02 (module ch02_two)"), "{err}");
        // lib.rs (no module) may hold any exercise's region
        assert!(gen_in("// BEGIN SOLUTION relu: t\n// END SOLUTION\n", None).is_ok());
    }

    #[test]
    fn reference_text_drops_markers() {
        let src = "use solutions::x;\n  // BEGIN SOLUTION a: b\n  1\n  // END SOLUTION\n";
        assert_eq!(reference_text(src), "use exercises::x;\n  1\n");
    }

    #[test]
    fn synced_file_names() {
        for ok in ["lib.rs", "ch01_vision_tasks.rs", "ch20_domain.rs", "appA_gpus.rs"] {
            assert!(is_synced_file(ok), "{ok}");
        }
        for no in ["main.rs", "ch1_x.rs", "ch01.rs", "ch01_x.txt", "appa_x.rs", "ch01_x-y.rs", "helpers.rs"] {
            assert!(!is_synced_file(no), "{no}");
        }
    }

    #[test]
    fn edited_heuristic() {
        let p = |old: Option<&str>, new: &str| Planned {
            name: "f.rs".into(),
            generated: new.into(),
            existing: old.map(String::from),
        };
        // fresh file, identical file: not edited
        assert!(!p(None, "todo!()").looks_edited());
        assert!(!p(Some("todo!()"), "todo!()").looks_edited());
        // the learner replaced a todo: edited
        assert!(p(Some("1 + 1"), "todo!()").looks_edited());
        // the solutions changed but the stub still has all its todos: regenerate freely
        assert!(!p(Some("todo!() old"), "todo!() new").looks_edited());
        assert!(p(Some("todo!() old"), "todo!() todo!() new").looks_edited());
        // todo!() in comments does not count
        assert!(!p(Some("//! exercises"), "//! every `todo!()` is one exercise").looks_edited());
        assert!(p(Some("//! todo!()\n1"), "//! todo!()\ntodo!()").looks_edited());
    }
}
