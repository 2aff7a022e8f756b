//! Running one test in its own process: its transcript pipe, the limits, and (as root) the
//! unprivileged user, mount namespace (no /proc, a private /tmp) and network it runs in.

use super::*;

/// The longest output kept per test (the rest is dropped).
pub(super) const MAX_OUTPUT: usize = 256 * 1024;
/// The longest transcript kept per test (a longer one is cut, and then fails).
pub(super) const MAX_TRANSCRIPT: usize = 32 << 20;

/// How the test processes are confined.
#[derive(Clone)]
pub(super) struct Sandbox {
    pub(super) timeout: Duration,
    pub(super) memory_bytes: u64,
    /// Linux as root: run as uid/gid `BASE_UID + slot` (no groups).
    pub(super) switch_user: bool,
    /// Linux as root: a private mount namespace with `hide` covered by empty tmpfs.
    pub(super) mask: bool,
    pub(super) hide: Vec<PathBuf>,
    /// Folders under /tmp the tests need (the checkout, its target dir): bound back into
    /// their private /tmp.
    pub(super) keep: Vec<PathBuf>,
}

/// The first file descriptor [`confine`] parks the [`Sandbox::keep`] folders on.
#[cfg(unix)]
const KEEP_FD: libc::c_int = 200;

pub(super) const BASE_UID: u32 = 64000;

/// The largest file a test process may write (RLIMIT_FSIZE).
#[cfg(unix)]
pub(super) const MAX_FILE_BYTES: libc::rlim_t = 64 << 20;

pub(super) struct Run {
    /// Exit status 0.
    pub(super) success: bool,
    /// From the start of the process to its end.
    pub(super) duration: Duration,
    pub(super) timed_out: bool,
    pub(super) signal: Option<i32>,
    pub(super) output: String,
    /// What the test recorded ([`course::transcript`]), as written.
    pub(super) transcript: String,
}

#[cfg(unix)]
pub(super) fn confine(cmd: &mut Command, sandbox: &Sandbox, slot: usize) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mem = sandbox.memory_bytes as libc::rlim_t;
    let (switch_user, mask) = (sandbox.switch_user, sandbox.mask);
    let uid = BASE_UID + slot as u32;
    let hide: Vec<CString> =
        sandbox.hide.iter().filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok()).collect();
    let tmpfs = CString::new("tmpfs").unwrap();
    let root = CString::new("/").unwrap();
    let opts = CString::new("size=16k,mode=000").unwrap();
    let tmp = CString::new("/tmp").unwrap();
    let tmp_opts = CString::new("size=64m,mode=1777").unwrap();
    let proc_dir = CString::new("/proc").unwrap();
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).ok();
    // Per kept folder: its path, the folders to create for it in the new /tmp (outermost
    // first), and the /proc path of the descriptor it is parked on.
    let keep: Vec<(CString, Vec<CString>, CString)> = sandbox
        .keep
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let mut dirs: Vec<CString> = k
                .ancestors()
                .take_while(|a| a.starts_with("/tmp") && *a != Path::new("/tmp"))
                .filter_map(cstr)
                .collect();
            dirs.reverse();
            Some((
                cstr(k)?,
                dirs,
                CString::new(format!("/proc/self/fd/{}", KEEP_FD + i as libc::c_int)).ok()?,
            ))
        })
        .collect();
    // SAFETY: between fork and exec only async-signal-safe system calls run, on memory that
    // was allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            if mask {
                #[cfg(target_os = "linux")]
                {
                    check(libc::unshare(libc::CLONE_NEWNS))?;
                    check(libc::mount(
                        std::ptr::null(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ))?;
                    for p in &hide {
                        check(libc::mount(
                            tmpfs.as_ptr(),
                            p.as_ptr(),
                            tmpfs.as_ptr(),
                            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                            opts.as_ptr() as *const libc::c_void,
                        ))?;
                    }
                    // A private, small /tmp (nothing outlives the test), and no network where
                    // the kernel gives the process its own (best effort). Folders of the
                    // grading that live under /tmp are parked on descriptors first, then
                    // bound back (with what is mounted on them) into the new /tmp.
                    for (i, (path, _, _)) in keep.iter().enumerate() {
                        let fd =
                            libc::open(path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
                        if fd < 0 || libc::dup2(fd, KEEP_FD + i as libc::c_int) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        libc::close(fd);
                    }
                    check(libc::mount(
                        tmpfs.as_ptr(),
                        tmp.as_ptr(),
                        tmpfs.as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        tmp_opts.as_ptr() as *const libc::c_void,
                    ))?;
                    for (i, (path, dirs, parked)) in keep.iter().enumerate() {
                        for d in dirs {
                            libc::mkdir(d.as_ptr(), 0o755);
                        }
                        check(libc::mount(
                            parked.as_ptr(),
                            path.as_ptr(),
                            std::ptr::null(),
                            libc::MS_BIND | libc::MS_REC,
                            std::ptr::null(),
                        ))?;
                        libc::close(KEEP_FD + i as libc::c_int);
                    }
                    // No /proc (last: the bind mounts above went through it): learner code
                    // can neither read nor write its own memory through /proc/self/mem, nor
                    // reopen the transcript's descriptor through /proc/self/fd.
                    check(libc::mount(
                        tmpfs.as_ptr(),
                        proc_dir.as_ptr(),
                        tmpfs.as_ptr(),
                        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                        opts.as_ptr() as *const libc::c_void,
                    ))?;
                    libc::unshare(libc::CLONE_NEWNET);
                }
            }
            let limit = |res, v: libc::rlim_t| {
                let r = libc::rlimit { rlim_cur: v, rlim_max: v };
                check(libc::setrlimit(res, &r))
            };
            limit(libc::RLIMIT_AS, mem)?;
            limit(libc::RLIMIT_CORE, 0)?;
            limit(libc::RLIMIT_FSIZE, MAX_FILE_BYTES)?;
            if switch_user {
                limit(libc::RLIMIT_NPROC, 1024)?;
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(uid as libc::gid_t))?;
                check(libc::setuid(uid as libc::uid_t))?;
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
pub(super) fn confine(_cmd: &mut Command, _sandbox: &Sandbox, _slot: usize) {}

/// Kills the test's process group and, when it ran under its own uid, every process of it.
pub(super) fn kill_all(child: &mut std::process::Child, sandbox: &Sandbox, slot: usize) {
    crate::reaper::kill_group(child.id());
    let _ = child.kill();
    if sandbox.switch_user {
        crate::reaper::kill_user(BASE_UID + slot as u32);
    }
}

pub(super) fn run_one(
    bin: &Binary,
    name: &str,
    sandbox: &Sandbox,
    slot: usize,
    timeout: Duration,
) -> Result<Run, String> {
    let mut cmd = Command::new(&bin.exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .current_dir(&bin.dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .env(course::transcript::FD_ENV, course::transcript::FD.to_string())
        .env("INSTA_UPDATE", "no")
        .env("CI", "true")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_TEST_THREADS", "1")
        .env("CARGO_MANIFEST_DIR", &bin.dir);
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(writer.try_clone().map_err(|e| e.to_string())?).stderr(writer);
    let (transcript_reader, transcript_writer) = std::io::pipe().map_err(|e| e.to_string())?;
    pass_transcript_pipe(&mut cmd, &transcript_writer);
    confine(&mut cmd, sandbox, slot);
    let started = Instant::now();
    let mut child =
        crate::reaper::spawn(&mut cmd).map_err(|e| format!("cannot start {}: {e}", bin.exe.display()))?;
    drop(cmd);
    drop(transcript_writer);
    let buf = collect(reader, MAX_OUTPUT);
    let transcript = collect(transcript_reader, MAX_TRANSCRIPT);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                kill_all(&mut child, sandbox, slot);
                break child.wait().map_err(|e| e.to_string())?;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let duration = started.elapsed();
    // Children it left behind die with it.
    kill_all(&mut child, sandbox, slot);
    crate::reaper::unregister(child.id());
    let until = Instant::now() + Duration::from_secs(2);
    while !(buf.lock().unwrap().1 && transcript.lock().unwrap().1) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = String::from_utf8_lossy(&buf.lock().unwrap().0).into_owned();
    let transcript = String::from_utf8_lossy(&transcript.lock().unwrap().0).into_owned();
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    Ok(Run { success: status.success() && !timed_out, duration, timed_out, signal, output, transcript })
}

/// Reads `reader` to its end on a thread of its own, keeping at most `max` bytes: (bytes, done).
fn collect(mut reader: std::io::PipeReader, max: usize) -> Arc<Mutex<(Vec<u8>, bool)>> {
    let buf = Arc::new(Mutex::new((Vec::<u8>::new(), false)));
    let shared = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut b = shared.lock().unwrap();
                    let room = max.saturating_sub(b.0.len());
                    b.0.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        shared.lock().unwrap().1 = true;
    });
    buf
}

/// The test process gets the transcript pipe's writing end as descriptor
/// [`course::transcript::FD`] (and, as every descriptor of the grader, nothing else of it).
#[cfg(unix)]
fn pass_transcript_pipe(cmd: &mut Command, writer: &std::io::PipeWriter) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = writer.as_raw_fd();
    let target = course::transcript::FD;
    // SAFETY: only dup2 and fcntl between fork and exec, on a descriptor open in the parent.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                // dup2 onto itself would keep close-on-exec set.
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn pass_transcript_pipe(_cmd: &mut Command, _writer: &std::io::PipeWriter) {}

/// Folders closed to every user but their owner (mode 0700) while it lives; their modes come
/// back when it is dropped.
pub(super) struct Closed(Vec<(PathBuf, u32)>);

impl Closed {
    pub(super) fn new(dirs: &[PathBuf]) -> Closed {
        let mut closed = Vec::new();
        #[cfg(unix)]
        for d in dirs {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(d) else { continue };
            let mode = meta.permissions().mode();
            if std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).is_ok() {
                closed.push((d.clone(), mode));
            }
        }
        #[cfg(not(unix))]
        let _ = dirs;
        Closed(closed)
    }
}

impl Drop for Closed {
    fn drop(&mut self) {
        #[cfg(unix)]
        for (d, mode) in &self.0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(*mode));
        }
    }
}

/// Set: the grader confines nothing (the red team's case without isolation).
pub(super) const NO_SANDBOX_ENV: &str = "DLCV_GRADING_NO_SANDBOX";

/// The strongest confinement that works here: (switch_user, mask). Both need root on Linux;
/// a container may allow the user switch but not mount namespaces.
pub(super) fn probe_privileges(sandbox: &Sandbox) -> (bool, bool) {
    if !cfg!(target_os = "linux") || std::env::var_os(NO_SANDBOX_ENV).is_some() {
        return (false, false);
    }
    for (switch_user, mask) in [(true, true), (true, false)] {
        let trial = Sandbox { switch_user, mask, ..sandbox.clone() };
        let mut cmd = Command::new("/bin/true");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        confine(&mut cmd, &trial, 0);
        if cmd.status().is_ok_and(|s| s.success()) {
            return (switch_user, mask);
        }
    }
    (false, false)
}
