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

pub fn run(root: &Path, problem: &str, shape: Option<&str>) -> Result<i32, String> {
    if !PROBLEMS.contains(&problem) {
        return Err(format!("no peer comparison `{problem}`; there is: {}", PROBLEMS.join(", ")));
    }
    println!("building and timing ours (release build of courselib's example conv2d_peers)...");
    let ours = run_ours(root, shape)?;
    let python = ensure_venv(&root.join("target/course/peers-venv"))?;
    println!("timing JAX and NumPy ({})...", python.display());
    let script = root.join("course/peers").join(format!("{problem}.py"));
    // the convolutions our side ran, by name and geometry, for the peers to run the same
    let workloads: Vec<String> =
        ours.workloads.iter().map(|(name, spec, _)| format!("{name} {spec}")).collect();
    let out = Command::new(&python)
        .arg(&script)
        .env("WORKLOADS", workloads.join(";"))
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let peers = results(&out, &format!("python3 {}", script.display()))?;
    let ms = |m: &Results, k: &str, fastest: bool| {
        m.times.get(k).map(|&(median, min)| if fastest { min } else { median })
    };
    let show = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    let ratio = |o: Option<f64>, j: Option<f64>| match (o, j) {
        (Some(o), Some(j)) if j > 0.0 => Some(o / j),
        _ => None,
    };
    let show_ratio = |r: Option<f64>| r.map_or("n/a".into(), |r| format!("{r:.2}"));
    let mut measured: Vec<(&str, Option<f64>)> =
        ours.workloads.iter().map(|(name, _, flops)| (name.as_str(), Some(*flops))).collect();
    measured.push(("cnn_train_step", None));
    // the fastest run is less sensitive to other load on the machine than the median
    println!("# fastest of the runs:");
    for &(name, _) in &measured {
        let (o, j) = (ms(&ours, name, true), ms(&peers, &format!("jax_{name}"), true));
        println!("#   {name} ours_ms={} jax_ms={} ratio={}", show(o), show(j), show_ratio(ratio(o, j)));
    }
    println!();
    let mut ratios = Vec::new();
    for &(name, flops) in &measured {
        let (o, j, n) = (
            ms(&ours, name, false),
            ms(&peers, &format!("jax_{name}"), false),
            ms(&peers, &format!("numpy_{name}"), false),
        );
        let gflops = match (flops, o) {
            (Some(f), Some(o)) => format!(" gflops={:.1}", f / o / 1e6),
            _ => String::new(),
        };
        let r = ratio(o, j);
        if flops.is_some() {
            ratios.push((o, j, r));
        }
        println!(
            "{name} ours_ms={} jax_ms={} numpy_ms={}{gflops} ratio={}",
            show(o),
            show(j),
            show(n),
            show_ratio(r)
        );
    }
    if ratios.len() > 1 {
        let geomean = |v: Vec<Option<f64>>| {
            let v: Option<Vec<f64>> = v.into_iter().collect();
            v.map(|v| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
        };
        let (o, j) =
            (geomean(ratios.iter().map(|r| r.0).collect()), geomean(ratios.iter().map(|r| r.1).collect()));
        let r = geomean(ratios.iter().map(|r| r.2).collect());
        println!(
            "conv2d_suite ours_ms={} jax_ms={} ratio={} (geometric means over {} convolutions)",
            show(o),
            show(j),
            show_ratio(r),
            ratios.len()
        );
    }
    Ok(0)
}

/// What one side printed: `RESULT` lines as name → (median ms, fastest ms), and our side's
/// `WORKLOAD` lines as (name, geometry, flops).
#[derive(Default)]
struct Results {
    times: BTreeMap<String, (f64, f64)>,
    workloads: Vec<(String, String, f64)>,
}

/// Builds and runs our side.
fn run_ours(root: &Path, shape: Option<&str>) -> Result<Results, String> {
    let mut cmd = libtest::cargo();
    cmd.args(["run", "--quiet", "--release", "-p", "courselib", "--features", "kernel-references"])
        .args(["--example", "conv2d_peers"])
        .current_dir(root);
    if let Some(shape) = shape {
        cmd.env("SHAPE", shape);
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    results(&out, "cargo run --release -p courselib --example conv2d_peers")
}

/// The `RESULT <name> <median> min <min>` (a `n/a` is left out) and `WORKLOAD <name>
/// <geometry> <flops>` lines of a finished command (echoing its `#` notes), or its stderr
/// as the error.
fn results(out: &Output, what: &str) -> Result<Results, String> {
    if !out.status.success() {
        return Err(format!("`{what}` failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let mut found = Results::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('#') {
            println!("{line}");
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["RESULT", name, median, "min", min] => {
                if let (Ok(median), Ok(min)) = (median.parse(), min.parse()) {
                    found.times.insert(name.to_string(), (median, min));
                }
            }
            ["WORKLOAD", name, spec, flops] => {
                let flops = flops.parse().map_err(|_| format!("`{what}`: bad line `{line}`"))?;
                found.workloads.push((name.to_string(), spec.to_string(), flops));
            }
            _ => {}
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
