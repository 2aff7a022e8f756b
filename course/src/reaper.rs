//! The grader's child processes. Every process group it starts (a build, a test) is
//! registered here, with the sandbox users its tests run as, so that a grader stopped by
//! SIGTERM or SIGINT (a cancelled CI job, Ctrl-C) ends them before it exits: test processes
//! run in their own process groups, where the terminal's or the runner's signal does not reach.

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::Mutex;

/// The registered process groups, and whether the grader is stopping (then nothing starts).
static GROUPS: Mutex<(BTreeSet<i32>, bool)> = Mutex::new((BTreeSet::new(), false));
static USERS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Starts `cmd` (which makes its own process group) and registers it, unless the grader is
/// stopping: one step under the lock, so that no process starts unseen while it stops.
/// [`unregister`] it when it has ended.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if groups.1 {
        return Err(std::io::Error::other("the grader is stopping"));
    }
    let child = cmd.spawn()?;
    groups.0.insert(child.id() as i32);
    Ok(child)
}

pub fn unregister(pgid: u32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).0.remove(&(pgid as i32));
}

/// A uid the tests run as: every process of it is the grader's.
pub fn register_user(uid: u32) {
    USERS.lock().unwrap_or_else(|e| e.into_inner()).insert(uid);
}

/// Kills a process group.
pub fn kill_group(pgid: u32) {
    #[cfg(unix)]
    // SAFETY: a plain system call on a process group id.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

/// Kills every process of `uid` (a test may leave its group with `setsid`).
pub fn kill_user(uid: u32) {
    let uid = uid.to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let status = std::fs::read_to_string(p.path().join("status")).unwrap_or_default();
        let owner =
            status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
        if owner == Some(uid.as_str()) {
            #[cfg(unix)]
            // SAFETY: a plain system call.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Kills everything registered; nothing starts after it.
pub fn kill_everything() {
    let groups: Vec<i32> = {
        let mut g = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        g.1 = true;
        g.0.iter().copied().collect()
    };
    for g in groups {
        kill_group(g as u32);
    }
    let users: Vec<u32> = USERS.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
    for u in users {
        kill_user(u);
    }
}

/// From now on, SIGTERM, SIGINT and SIGHUP end every registered process, then the grader
/// (exit status 128 + the signal). Called once per grading process.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) else {
                return;
            };
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    eprintln!("\nThe grader got signal {sig}: ending its builds and tests, then itself.");
                    kill_everything();
                    std::process::exit(128 + sig);
                }
            });
        });
    }
}
