"""Writes the red-team cases into the folder given as its argument, from the current solutions.

Each case is a copy of solutions/src/chNN_*.rs with a few solution regions replaced or
preceded by a cheat, plus expected.toml. `cargo course verify` runs it into target/ before
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
def case(name, ch1, ch2, header, expected):
    d=f'{OUT}/{name}/exercises/src'
    os.makedirs(d, exist_ok=True)
    open(f'{d}/{C1}.rs','w').write(ch1)
    open(f'{d}/{C2}.rs','w').write(ch2)
    open(f'{OUT}/{name}/expected.toml','w').write(header + expected)

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

# 2. forgery: exit(0), forged libtest lines and proofs, exit from a thread, NaN answers
a = prepend(ch1, 'top_k_error', '    std::process::exit(0);')
a = prepend(a, 'one_hot', '''    println!("test ch01::one_hot::three_labels_of_four_classes ... ok");
    println!("dlcv-grading-proof:0123456789abcdef");
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
case('forgery', a, ch2, '# Early exits, forged "test ... ok" lines and proofs, NaN answers: nothing earned.\n', exp(['top_k_error','one_hot','image_to_tensor','normalize'], ['channel_statistics','flatten']+ALL2))

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
case('tamper', a, b, '# include_str! of the hidden tests refuses chapter 1; in chapter 2, writing snapshots or test\n# files and reading the hidden tests at run time must fail: the cheating functions are\n# correct only when they succeed.\n', exp(ALL1+['tape_gradients','train_mlp'], [x for x in ALL2 if x not in ('tape_gradients','train_mlp')], 'output_contains = ["include_str!"]\n'))

# 5. broken: a chapter that does not compile next to a correct one
b = prepend(ch2, 'relu_forward', '    let broken: u8 = "not a number";')
case('broken', ch1, b, '# A chapter that does not compile costs that chapter only; the report shows the error.\n', exp(ALL2, ALL1, 'output_contains = ["error[E0308]", "ch02_backprop.rs"]\n'))
