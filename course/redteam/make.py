"""Writes the red-team cases into the folder given as its argument, from the current solutions.

Each case is a copy of solutions/src/chNN_*.rs with a few solution regions replaced or
preceded by a cheat, plus expected.toml: the exercises that must score 0 (zero), full points
(full) or less than full points (not_full), texts the report must contain, and optionally the
chapters it is graded on (default: [grading] red_team_chapters), a build limit (build_timeout,
seconds), the longest the grading may take (max_seconds), and a time after which a second
grading is stopped with SIGTERM to check that no test process outlives it (stop_after). `cargo course verify` runs it into target/ before
grading the cases, so the cases always follow the solutions:
    python3 course/redteam/make.py OUT_DIR
"""
import re, os, sys
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.abspath(sys.argv[1])
def load(m): return open(f'{ROOT}/solutions/src/{m}.rs').read()
def region(text, ex):
    m = re.search(r'(// BEGIN SOLUTION '+ex+r':[^\n]*\n)(.*?)(\n[ \t]*// END SOLUTION)', text, re.S)
    assert m, ex
    return m
def prepend(text, ex, code):
    m = region(text, ex)
    return text[:m.end(1)] + code + '\n' + text[m.start(2):]
def replace(text, ex, code):
    m = region(text, ex)
    return text[:m.end(1)] + code + text[m.start(3):]
C1='ch01_vision_tasks'; C2='ch02_backprop'
cases = {}
def case_files(name, files, header, expected):
    d=f'{OUT}/{name}/exercises/src'
    os.makedirs(d, exist_ok=True)
    for module, text in files.items():
        open(f'{d}/{module}.rs','w').write(text)
    open(f'{OUT}/{name}/expected.toml','w').write(header + expected)
def case(name, ch1, ch2, header, expected):
    case_files(name, {C1: ch1, C2: ch2}, header, expected)

ch1, ch2 = load(C1), load(C2)
ALL1 = ['top_k_error','one_hot','image_to_tensor','channel_statistics','normalize','flatten']
ALL2 = ['linear_forward','linear_backward','relu_forward','relu_backward','softmax','softmax_nll_loss','softmax_nll_backward','mlp_forward','mlp_backward','tape_gradients','train_mlp']
def exp(zero, full, extra=''):
    return f'zero = {zero!r}\nfull = {full!r}\n{extra}'.replace("'", '"')

# 1. crashes: panic, infinite loop, stack overflow, huge allocation; a correct but slow train_mlp
a = prepend(ch1, 'top_k_error', '    panic!("red team: a panic in learner code");')
a = prepend(a, 'one_hot', '    #[allow(clippy::empty_loop)]\n    loop {\n        std::hint::black_box(0);\n    }')
a = prepend(a, 'image_to_tensor', '''    fn deeper(n: u64) -> u64 {
        let pad = std::hint::black_box([n; 64]);
        deeper(n + 1) + pad[3]
    }
    let _ = deeper(0);''')
a = prepend(a, 'channel_statistics', '''    let huge = vec![1u8; 1 << 40];
    std::hint::black_box(&huge);''')
b = prepend(ch2, 'train_mlp', '''    // correct but slow: half a second per call
    std::thread::sleep(std::time::Duration::from_millis(500));''')
case('crashes', a, b, '# A panic, an infinite loop, a stack overflow and a 1 TiB allocation cost their exercises only;\n# a correct but slow train_mlp keeps its points.\n', exp(['top_k_error','one_hot','image_to_tensor','channel_statistics'], ['normalize','flatten']+ALL2))

# 2. forgery: exit(0), forged libtest lines and transcript lines, exit from a thread, NaN answers
a = prepend(ch1, 'top_k_error', '    std::process::exit(0);')
a = prepend(a, 'one_hot', '''    println!("test ch01::one_hot::three_labels_of_four_classes ... ok");
    println!("end");
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
    std::process::exit(0);''')
a = prepend(a, 'image_to_tensor', '''    std::thread::spawn(|| {
        println!("ok");
        std::process::exit(0)
    })
    .join()
    .ok();''')
a = replace(a, 'normalize', '''    let _ = (mean, std);
    batch.device().ones_like(&batch) * f32::NAN''')
case('forgery', a, ch2, '# Early exits, forged "test ... ok" and transcript lines on stdout, NaN answers: nothing earned.\n', exp(['top_k_error','one_hot','image_to_tensor','normalize'], ['channel_statistics','flatten']+ALL2))

HELPERS = '''
/// Red team: every ancestor of the working directory and of the test binary.
fn red_team_places() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for start in [std::env::current_dir().ok(), std::env::current_exe().ok()].into_iter().flatten() {
        out.extend(start.ancestors().map(|p| p.to_path_buf()));
    }
    out
}

/// Red team: true when any hidden test source could be read.
fn red_team_read_hidden() -> bool {
    red_team_places().iter().any(|p| {
        std::fs::read_to_string(p.join("tests/grading/ch01.rs")).is_ok_and(|s| s.contains("mod top_k_error"))
            || std::fs::read_to_string(p.join("solutions/src/ch01_vision_tasks.rs")).is_ok()
    })
}

/// Red team: true when a snapshot or a test file could be written.
fn red_team_write() -> bool {
    let mut wrote = false;
    for p in red_team_places() {
        let dir = p.join("tests/grading/snapshots");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(e.path()) {
                    wrote |= f.write_all(b"\\n").is_ok();
                }
            }
        }
        for f in ["tests/grading/ch01.rs", "exercises/tests/visible/ch01.rs", "tests/grading/snapshots/new.snap"] {
            use std::io::Write;
            if let Ok(mut h) = std::fs::OpenOptions::new().append(true).create(true).open(p.join(f)) {
                wrote |= h.write_all(b"\\n").is_ok();
            }
        }
    }
    wrote
}
'''
# 3. tamper: read the hidden tests at compile time (ch01) and at run time, write snapshots and test files (ch02)
helpers = HELPERS
a = ch1.rstrip('\n') + '\n\n/// Red team: the hidden tests, read at compile time.\npub const HIDDEN: &str = include_str!("../../tests/grading/ch01.rs");\n'
b = ch2.rstrip('\n') + '\n' + helpers
b = prepend(b, 'tape_gradients', '''    // correct only if a snapshot or test file could be written
    assert!(red_team_write(), "red team: could not write the snapshots or tests");''')
b = prepend(b, 'train_mlp', '''    // correct only if the hidden tests (or the solutions) could be read
    assert!(red_team_read_hidden(), "red team: could not read the hidden tests");''')
case('tamper', a, b, '# include_str! of the hidden tests refuses chapter 1; in chapter 2, writing snapshots or test\n# files and reading the hidden tests at run time must fail: the cheating functions are\n# correct only when they succeed.\n', exp(ALL1+['tape_gradients','train_mlp'], [x for x in ALL2 if x not in ('tape_gradients','train_mlp')], 'output_contains = ["`include_str` is not allowed"]\n'))

# 5. broken: a chapter that does not compile next to a correct one
b = prepend(ch2, 'relu_forward', '    let broken: u8 = "not a number";')
case('broken', ch1, b, '# A chapter that does not compile costs that chapter only; the report shows the error.\n', exp(ALL2, ALL1, 'output_contains = ["error[E0308]", "ch02_backprop.rs"]\n'))

# 6. links: a chapter file, or the whole exercises/src, linked to the solutions
case('links', ch1, ch2, '# A chapter file that is a symbolic link to the solutions is refused, not followed.\n', exp(ALL1, ALL2, 'output_contains = ["symbolic link"]\n'))
os.remove(f'{OUT}/links/exercises/src/{C1}.rs')
os.symlink(f'{ROOT}/solutions/src/{C1}.rs', f'{OUT}/links/exercises/src/{C1}.rs')
os.makedirs(f'{OUT}/links-dir/exercises', exist_ok=True)
os.symlink(f'{ROOT}/solutions/src', f'{OUT}/links-dir/exercises/src')
open(f'{OUT}/links-dir/expected.toml','w').write('# exercises/src linked to the solutions: nothing is read through it.\n' + exp(ALL1+ALL2, [], 'output_contains = ["exercises/src is a symbolic link"]\n'))

# 7. compile time: a macro that builds include_str!, next to a raw string that confused the old
#    text scanner (ch01); the debugger_visualizer attribute, which embeds any file (ch02)
a = ch1.rstrip('\n') + r"""

/// Red team: a macro makes the include, the raw string hides nothing.
macro_rules! grab {
    ($how:ident, $file:literal) => {
        $how!($file)
    };
}
pub const RAW: &[u8] = br##"a "# quote"##;
pub const HIDDEN: &str = grab!(include_str, "../../tests/grading/ch01.rs");
"""
b = '#![debugger_visualizer(gdb_script_file = "../../tests/grading/ch02.rs")]\n' + ch2
case('compile-time', a, b, '# Compile-time reads written through a macro or an attribute are refused.\n', exp(ALL1+ALL2, [], 'output_contains = ["a macro may not call a macro its caller names", "`debugger_visualizer` is not allowed"]\n'))

# 8. given code: the learner rewrites given helpers (ch02's accuracy, ch01's Display impl)
a = ch1.replace('write!(f, "image is {aw}x{ah} (width x height), the tensor needs {ew}x{eh}")', 'let _ = (ew, eh, aw, ah, f);\n        panic!("red team: rewritten given code")')
assert a != ch1
m = re.search(r'(pub fn accuracy<const H: usize, D: Device<f32>>\(mlp: &DigitMlp<H, D>, set: &ImageSet\) -> f32 \{\n)(.*?)(\n\}\n)', ch2, re.S)
assert m
b = ch2[:m.end(1)] + '    let _ = (mlp, set);\n    1.0' + ch2[m.start(3):]
b = prepend(b, 'train_mlp', '    // red team: never learns; the rewritten accuracy says 100 %\n    let config = &TrainConfig { learning_rate: 0.0, ..config.clone() };')
case('given-code', a, b, '# Rewritten given code is ignored (and reported): a train_mlp that does not learn, next to an\n# accuracy that always says 100 %, does not reach the bar.\n', exp([], ALL1 + [x for x in ALL2 if x != 'train_mlp'], 'not_full = ["train_mlp"]\noutput_contains = ["`accuracy` is given code: your change is ignored", "is given code: your change is ignored"]\n'))

# 9. shortcuts: dfdx's activations and courselib's output size where the exercise is by hand
C4='ch04_activations'; C6='ch06_convolutions'
c4, c6 = load(C4), load(C6)
c4 = replace(c4, 'sigmoid', '    x.sigmoid()')
c4 = replace(c4, 'tanh', '    dfdx::tensor_ops::tanh(x)')
c4 = replace(c4, 'relu', '    the_library_relu(x)')
c4 = c4.rstrip('\n') + '\n\nuse dfdx::tensor_ops::relu as the_library_relu;\n'
c6 = replace(c6, 'conv_output_size', '    courselib::conv::conv_out(input, kernel, stride, padding)')
ALL4 = ['sigmoid','tanh','relu','leaky_relu','maxout','layer_gradient_norms','dead_unit_fraction']
ALL6 = ['conv_output_size','conv_parameter_count','conv2d_naive','im2col_indices','conv2d_im2col','max_pool2d','avg_pool2d','conv_block','batch_norm_train','batch_norm_eval','dropout','flip','rotate','random_crop','gaussian_noise','scale_channels','train_fashion_cnn']
zero = ['sigmoid','tanh','relu','conv_output_size']
case_files('shortcuts', {C4: c4, C6: c6}, '# The library call that does an exercise\'s work (a method, a path, an alias) scores it 0.\n', exp(zero, [x for x in ALL4+ALL6 if x not in zero], 'chapters = ["ch04", "ch06"]\ntimeout = 60\noutput_contains = ["sigmoid uses `sigmoid`", "conv_output_size uses `conv_out`", "relu uses `relu`"]\n'))

# 9b. the course library's references for chapter 6 (the naive loops and the gather path) are
#     not there to call in a learner's build: the chapter does not compile, and says why
c6r = prepend(load(C6), 'conv_parameter_count', '    let _ = std::any::type_name::<courselib::conv::naive::Dims>();')
c6r = prepend(c6r, 'max_pool2d', '    #[allow(unused_imports)]\n    use courselib::conv::gather::max_pool2d as generic_path;')
case_files('references', {C6: c6r}, '# courselib\'s naive loops and gather path, the same functions as chapter 6\'s exercises, are\n# not in a learner\'s build: the chapter does not compile.\n', exp(ALL6, [], 'chapters = ["ch06"]\noutput_contains = ["could not find `naive` in `conv`", "module `gather` is private"]\n'))

# 10. limits: a constant that keeps the compiler busy (ch01); every exercise of ch02 loops
#     forever, graded in minutes, and a grading stopped with SIGTERM leaves no test behind
a = prepend(ch1, 'top_k_error', """    #[allow(long_running_const_eval)]
    const SPIN: u64 = {
        let mut i: u64 = 1;
        while i != 0 {
            i = i.wrapping_add(1);
        }
        i
    };
    let _ = std::hint::black_box(SPIN);""")
case('build-hang', a, ch2, '# A constant that never finishes evaluating: its chapter scores 0 at the build limit.\n', exp(ALL1, ALL2, 'build_timeout = 60\noutput_contains = ["the build took longer than", "limit of 60 s"]\n'))
b = ch2
for ex in ALL2:
    b = prepend(b, ex, '    #[allow(clippy::empty_loop)]\n    loop {\n        std::hint::black_box(0);\n    }')
case('hangs', ch1, b, '# Every exercise of chapter 2 hangs: the per-test limits from the reference times grade it in\n# minutes; a second grading stopped with SIGTERM leaves no test process behind.\n', exp(ALL2, ALL1, 'max_seconds = 240\nstop_after = 20\n'))

# 11. /tmp: a file left by one test process to pass the next ones
a = prepend(ch1, 'top_k_error', """    // red team: wrong the first time, right once a marker file outlives a test
    let marker = std::path::Path::new("/tmp/dlcv-red-team-marker");
    if !marker.exists() {
        let _ = std::fs::write(marker, b"seen");
        return 2.0;
    }""")
case('tmp', a, ch2, '# Every test process gets its own empty /tmp: a file left by one test helps no other.\n', exp(['top_k_error'], [x for x in ALL1 if x != 'top_k_error'] + ALL2))

# 12. snapshots: wrong only on the snapshot's batch, with insta told to pass and the grader's
#     variable removed; the grader judges the snapshot outside the test process
a = prepend(ch1, 'channel_statistics', """    // red team: wrong on the digits snapshot's batch only, and insta told to pass
    if N == 1024 {
        std::env::set_var("INSTA_FORCE_PASS", "1");
        std::env::remove_var("DLCV_TRANSCRIPT_FD");
        return ([0.5; C], [0.5; C]);
    }""")
case('snapshots', a, ch2, '# INSTA_FORCE_PASS and a removed grader variable do not pass a snapshot: the grader compares it.\n', exp([], [x for x in ALL1 if x != 'channel_statistics'] + ALL2, 'not_full = ["channel_statistics"]\n'))

# 13. transcripts: the verdict lives outside the test process. The cheat writes forged records
#     and an end to a descriptor it can reach (through /proc/self/fd, /dev/fd, or a shell it
#     starts), reads its own memory (/proc/self/mem), and exits with 0. Graded isolated (no
#     /proc, the transcript's descriptor not inherited) and, as a second case, without any
#     isolation, where the forged records do reach the grader and the comparison with the
#     reference run must reject them.
def forge(records):
    """A cheat that writes `records` (transcript lines, then an end) once, to the first descriptor
    above 2 it can open for writing, or else through a shell it starts, reads what it can of its
    own memory, and exits with status 0."""
    return """    // red team: forge the transcript, then leave with status 0
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let forged = "%s\\nend\\n";
        let mut reached = None;
        'search: for fd in 3..64 {
            for dir in ["/proc/self/fd", "/dev/fd"] {
                if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(format!("{dir}/{fd}")) {
                    if f.write_all(forged.as_bytes()).is_ok() {
                        reached = Some(format!("{dir}/{fd}"));
                        break 'search;
                    }
                }
            }
        }
        if reached.is_none() {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("for fd in 3 4 5 6 7 8 9; do printf '{forged}' >&$fd && break; done 2>/dev/null"))
                .status();
        }
        // Everything the process can read of its own memory: no secret is in it any more.
        let mut seen = 0usize;
        if let (Ok(maps), Ok(mut mem)) =
            (std::fs::read_to_string("/proc/self/maps"), std::fs::File::open("/proc/self/mem"))
        {
            for line in maps.lines() {
                let Some((range, _)) = line.split_once(' ') else { continue };
                let Some((a, b)) = range.split_once('-') else { continue };
                let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else { continue };
                let mut buf = vec![0u8; (b - a).min(1 << 20) as usize];
                if mem.seek(SeekFrom::Start(a)).is_ok() && mem.read_exact(&mut buf).is_ok() {
                    seen += buf.len();
                }
            }
        }
        println!("red team: forged records written to {reached:?}; read {seen} bytes of its memory");
        std::process::exit(0);
    }""" % records
# top_k_error: a condition that held; one_hot: the visible test's one comparison, in its shape
# (12 values) but with the cheat's own numbers as got and expected.
zeros = ','.join(['0.0'] * 12)
a = prepend(ch1, 'top_k_error', forge('holds 1 6f6b'))
a = prepend(a, 'one_hot', forge(f'close 0 1e-5 0.0001 6f6b {zeros} {zeros}'))
case_files('transcript', {C1: a}, '# Forged transcripts and a read of the own memory, with isolation: nothing earned.\n', exp(['top_k_error', 'one_hot'], [x for x in ALL1 if x not in ('top_k_error', 'one_hot')], 'chapters = ["ch01"]\n'))
case_files('transcript-unisolated', {C1: a}, '# The same without any isolation (the forged records reach the grader): the comparison with\n# the reference run still rejects them.\n', exp(['top_k_error', 'one_hot'], [x for x in ALL1 if x not in ('top_k_error', 'one_hot')], 'chapters = ["ch01"]\nisolation = false\n'))

# 14. the test set: a search that chooses on the test images (read through the datasets crate
#     or straight from the file) scores 0; dfdx's own decoupled decay in place of the wrapper too.
#     Code in any exercise's region counts for every exercise that forbids it (a region can be
#     reached through a call), so l2_penalty, which forbids `WeightDecay` as well, scores 0 too.
C3='ch03_optimisers'
c3 = load(C3)
c3 = prepend(c3, 'search_settings', '''    // red team: peek at the test set to choose
    let _peek = datasets::digits::train_test().map(|(_, test)| test.len());
    let _raw = std::fs::read("datasets/data/digits/digits.csv.gz");''')
c3 = prepend(c3, 'decoupled_weight_decay', '''    // red team: name dfdx's own decoupled decay
    let _ = dfdx::optim::WeightDecay::Decoupled(0.0);''')
case_files('test-set', {C3: c3}, '# A search that reads the test set, and a wrapper that names dfdx\'s weight decay, score 0.\n', exp(['search_settings', 'decoupled_weight_decay', 'l2_penalty'], ['early_stopping', 'adam', 'train_digits'], 'chapters = ["ch03"]\noutput_contains = ["`fs` (line", "`train_test` (line", "never sees the test set", "decoupled_weight_decay uses `WeightDecay` (line"]\n'))
