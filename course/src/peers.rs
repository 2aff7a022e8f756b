//! `cargo course bench --peers conv2d`: our conv2d and CNN training step against JAX and
//! NumPy on this machine, in one run. Not part of `verify`: it needs the network once
//! (pip) and takes minutes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::libtest;

/// The peer comparisons there are: the name after `--peers`.
pub const PROBLEMS: &[&str] = &["conv2d"];

/// The Python packages the peers' script needs, installed into the course's own venv.
const PACKAGES: &[&str] = &["jax", "numpy"];

pub fn run(root: &Path, problem: &str) -> Result<i32, String> {
    if !PROBLEMS.contains(&problem) {
        return Err(format!("no peer comparison `{problem}`; there is: {}", PROBLEMS.join(", ")));
    }
    println!("building and timing ours (release build of courselib's example conv2d_peers)...");
    let ours = run_ours(root)?;
    let python = ensure_venv(&root.join("target/course/peers-venv"))?;
    println!("timing JAX and NumPy ({})...", python.display());
    let script = root.join("course/peers").join(format!("{problem}.py"));
    let out = Command::new(&python)
        .arg(&script)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let peers = results(&out, &format!("python3 {}", script.display()))?;
    let ratio = |o: &str, j: &str| match (o.parse::<f64>(), j.parse::<f64>()) {
        (Ok(o), Ok(j)) if j > 0.0 => format!("{:.2}", o / j),
        _ => "n/a".into(),
    };
    let get = |m: &BTreeMap<String, (String, String)>, k: &str, min: bool| {
        m.get(k)
            .map(|(median, fastest)| if min { fastest.clone() } else { median.clone() })
            .unwrap_or_else(|| "n/a".into())
    };
    const MEASURED: [&str; 2] = ["conv2d_fwd_bwd", "cnn_train_step"];
    // the fastest run is less sensitive to other load on the machine than the median
    println!("# fastest of the runs:");
    for name in MEASURED {
        let (o, j) = (get(&ours, name, true), get(&peers, &format!("jax_{name}"), true));
        println!("#   {name} ours_ms={o} jax_ms={j} ratio={}", ratio(&o, &j));
    }
    println!();
    for name in MEASURED {
        let (o, j, n) = (
            get(&ours, name, false),
            get(&peers, &format!("jax_{name}"), false),
            get(&peers, &format!("numpy_{name}"), false),
        );
        println!("{name} ours_ms={o} jax_ms={j} numpy_ms={n} ratio={}", ratio(&o, &j));
    }
    Ok(0)
}

/// Builds and runs our side; its `RESULT` lines by name.
fn run_ours(root: &Path) -> Result<BTreeMap<String, (String, String)>, String> {
    let out = libtest::cargo()
        .args(["run", "--quiet", "--release", "-p", "courselib", "--example", "conv2d_peers"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    results(&out, "cargo run --release -p courselib --example conv2d_peers")
}

/// The `RESULT <name> <median> min <min>` lines of a finished command as name →
/// (median, min) (echoing its `#` notes), or its stderr as the error.
fn results(out: &Output, what: &str) -> Result<BTreeMap<String, (String, String)>, String> {
    if !out.status.success() {
        return Err(format!("`{what}` failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('#') {
            println!("{line}");
        }
        let mut words = line.split_whitespace();
        if let (Some("RESULT"), Some(name), Some(median)) = (words.next(), words.next(), words.next()) {
            let min = match (words.next(), words.next()) {
                (Some("min"), Some(min)) => min,
                _ => median,
            };
            found.insert(name.to_string(), (median.to_string(), min.to_string()));
        }
    }
    Ok(found)
}

/// The venv's python with the peers' packages, creating the venv and installing them
/// with pip on first use.
fn ensure_venv(venv: &Path) -> Result<std::path::PathBuf, String> {
    let python = venv.join(if cfg!(windows) { "Scripts/python.exe" } else { "bin/python" });
    let imports = format!("import {}", PACKAGES.join(", "));
    if python.is_file() && ok(Command::new(&python).args(["-c", &imports]).output()) {
        return Ok(python);
    }
    if !python.is_file() {
        println!("creating a Python virtual environment in {}...", venv.display());
        let out = Command::new("python3").args(["-m", "venv"]).arg(venv).output().map_err(|e| {
            format!("cannot run python3 ({e}): install Python 3 (with its venv module) to compare with JAX and NumPy")
        })?;
        if !out.status.success() {
            return Err(format!(
                "`python3 -m venv {}` failed; on Debian/Ubuntu install python3-venv:\n{}",
                venv.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    println!("installing {} with pip (needs the network, once)...", PACKAGES.join(" "));
    let out = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .output()
        .map_err(|e| format!("cannot run pip in {}: {e}", venv.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`pip install {}` failed (is the network reachable?); delete {} to start over:\n{}",
            PACKAGES.join(" "),
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(python)
}

fn ok(out: std::io::Result<Output>) -> bool {
    out.is_ok_and(|o| o.status.success())
}
