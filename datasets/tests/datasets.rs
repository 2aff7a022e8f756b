//! Tests of the shipped data, the loaders' error handling and the shapes generator.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use datasets::photos::{self, Photo};
use datasets::shapes::{
    self, generate, generate_many, scene_seed, BBox, Background, Colour, QuestionKind, Scene, ShapeKind,
    ShapesConfig,
};
use datasets::{digits, fashion, sha256_hex, DataError, ImageSet};

// ---------------------------------------------------------------------------------------------
// helpers

/// The data folder of the crate (independent of `DLCV_DATA_DIR`).
fn shipped() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data"))
}

/// A temporary data folder, removed on drop.
struct TempData(PathBuf);

impl TempData {
    fn new() -> TempData {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dlcv-datasets-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempData(dir)
    }

    /// Copy `rel` (and `SHA256SUMS`) from the shipped data.
    fn with_copy(rel: &str) -> TempData {
        let t = TempData::new();
        t.copy(datasets::SHA256SUMS);
        t.copy(rel);
        t
    }

    fn copy(&self, rel: &str) {
        let dst = self.0.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(shipped().join(rel), dst).unwrap();
    }

    /// Write `bytes` to `rel` and list its checksum in SHA256SUMS (replacing the manifest).
    fn write_listed(&self, rel: &str, bytes: &[u8]) {
        let dst = self.0.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(&dst, bytes).unwrap();
        let path = self.0.join(datasets::SHA256SUMS);
        let mut sums = std::fs::read_to_string(&path).unwrap_or_default();
        sums.push_str(&format!("{}  {rel}\n", sha256_hex(bytes)));
        std::fs::write(path, sums).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempData {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn assert_display_helps(err: &DataError, rel: &str) {
    let msg = err.to_string();
    assert!(msg.contains(&err.file().display().to_string()), "message does not name the file: {msg}");
    assert!(msg.contains("restore"), "message has no restore instructions: {msg}");
    assert!(msg.contains(&format!("git checkout -- datasets/data/{rel}")), "no git command: {msg}");
    assert!(msg.contains("datasets/README.md"), "no pointer to the README: {msg}");
}

// ---------------------------------------------------------------------------------------------
// shipped files

#[test]
fn sha256sums_covers_every_data_file_and_matches() {
    let dir = shipped();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut listed = Vec::new();
    for line in sums.lines() {
        let (hash, rel) = line.split_once("  ").expect("sha256sum format");
        let bytes = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(sha256_hex(&bytes), hash, "{rel}");
        listed.push(rel.to_string());
    }
    // Every file under data/ except the manifest and the licence texts is listed.
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&dir).unwrap().to_str().unwrap().replace('\\', "/");
            if rel == "SHA256SUMS" || rel.ends_with(".md") {
                continue;
            }
            assert!(listed.contains(&rel), "{rel} is not listed in SHA256SUMS");
        }
    }
    assert_eq!(listed.len(), 10);
    for folder in ["digits", "fashion", "photos"] {
        assert!(dir.join(folder).join("LICENSE.md").is_file(), "{folder}/LICENSE.md");
    }
}

#[test]
fn data_dir_defaults_to_the_crate_data_folder() {
    if std::env::var_os(datasets::DATA_DIR_ENV).is_none() {
        assert_eq!(datasets::data_dir(), shipped());
    }
    assert!(datasets::data_dir().join("SHA256SUMS").is_file());
}

// ---------------------------------------------------------------------------------------------
// digits

#[test]
fn digits_load() {
    let d = digits::load().unwrap();
    assert_eq!(d.name, "digits");
    assert_eq!((d.len(), d.channels, d.height, d.width, d.max_value), (1797, 1, 8, 8, 16));
    assert_eq!(d.image_len(), 64);
    assert_eq!(d.pixels.len(), 1797 * 64);
    assert!(d.pixels.iter().all(|&p| p <= 16));
    assert_eq!(d.pixels.iter().max(), Some(&16));
    assert!(d.labels.iter().all(|&l| l < 10));
    assert_eq!(d.class_names, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    let counts = d.class_counts();
    assert_eq!(counts, vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // The first row of the file is a 0.
    assert_eq!(d.label(0), 0);
    assert_eq!(&d.image(0)[..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
    assert_eq!(d.label(1796), 8);
    // Loading again (checksum cached) gives the same set.
    for _ in 0..20 {
        assert_eq!(digits::load().unwrap(), d);
    }
}

#[test]
fn digits_train_test_split() {
    let all = digits::load().unwrap();
    let (train, test) = digits::train_test().unwrap();
    assert_eq!((train.len(), test.len()), (digits::TRAIN_SIZE, digits::TEST_SIZE));
    assert_eq!((train.len(), test.len()), (1438, 359));
    assert_eq!((train.name.as_str(), test.name.as_str()), ("digits-train", "digits-test"));
    assert_eq!(test.class_counts(), [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]);
    // Every image lands in exactly one part.
    let mut parts: Vec<&[u8]> = train.pixels.chunks(64).chain(test.pixels.chunks(64)).collect();
    let mut originals: Vec<&[u8]> = all.pixels.chunks(64).collect();
    parts.sort();
    originals.sort();
    assert_eq!(parts, originals);
    let total: Vec<usize> =
        train.class_counts().iter().zip(test.class_counts()).map(|(a, b)| a + b).collect();
    assert_eq!(total, all.class_counts());
}

#[test]
fn digits_train_val_test_split() {
    let (train, test) = digits::train_test().unwrap();
    let (fit, val, test_again) = digits::train_val_test().unwrap();
    assert_eq!((fit.len(), val.len()), (digits::FIT_SIZE, digits::VAL_SIZE));
    assert_eq!((fit.len(), val.len()), (1151, 287));
    assert_eq!([fit.name.as_str(), val.name.as_str()], ["digits-fit", "digits-val"]);
    assert_eq!(test_again, test, "the test part does not move when a validation part is split off");
    // A fifth of each class of the train part, rounded.
    let expected: Vec<usize> = train.class_counts().iter().map(|&c| (c + 2) / 5).collect();
    assert_eq!(val.class_counts(), expected);
    assert_eq!(val.class_counts(), [28, 29, 28, 29, 29, 29, 29, 29, 28, 29]);
    assert_same_images(&[&fit, &val], &train);
}

#[test]
fn fashion_train_val_split() {
    let train = fashion::train().unwrap();
    let (fit, val) = fashion::train_val().unwrap();
    assert_eq!((fit.len(), val.len()), (9_600, fashion::VAL_SIZE));
    assert_eq!((fit.class_counts(), val.class_counts()), (vec![960; 10], vec![240; 10]));
    assert_eq!([fit.name.as_str(), val.name.as_str()], ["fashion-fit", "fashion-val"]);
    assert_same_images(&[&fit, &val], &train);
}

/// The parts hold exactly the images of `whole`, each once (as a multiset of image + label).
fn assert_same_images(parts: &[&ImageSet], whole: &ImageSet) {
    let key = |set: &ImageSet, i: usize| (set.image(i).to_vec(), set.label(i));
    let mut from_parts: Vec<_> = parts.iter().flat_map(|p| (0..p.len()).map(move |i| key(p, i))).collect();
    let mut originals: Vec<_> = (0..whole.len()).map(|i| key(whole, i)).collect();
    from_parts.sort();
    originals.sort();
    assert!(from_parts == originals, "the parts do not hold each image of the whole exactly once");
}

/// A toy set whose image `i` is the single pixel `i`, so indices can be read back.
fn numbered(labels: &[u8], classes: usize) -> ImageSet {
    ImageSet {
        name: "numbered".into(),
        channels: 1,
        height: 1,
        width: 1,
        max_value: 255,
        pixels: (0..labels.len() as u8).collect(),
        labels: labels.to_vec(),
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    }
}

#[test]
fn stratified_split_rounds_each_class_and_keeps_order() {
    // Class 0 has 5 images, class 1 has 7, class 2 has 2: a fifth rounded is 1, 1, 0.
    let labels = [0, 1, 0, 1, 1, 0, 2, 1, 0, 1, 1, 2, 0, 1];
    let set = numbered(&labels, 3);
    let (kept, held) = set.stratified_split(5, 7);
    assert_eq!(held.class_counts(), [1, 1, 0]);
    assert_eq!(kept.class_counts(), [4, 6, 2]);
    // Halves round down: 3 of a class over 2 gives 1, 4 gives 2.
    let (_, halves) = numbered(&[0, 0, 0, 1, 1, 1, 1], 2).stratified_split(2, 7);
    assert_eq!(halves.class_counts(), [1, 2]);
    // Both parts keep the set's order, and the denominator 1 holds out everything.
    for part in [&kept, &held] {
        assert!(part.pixels.windows(2).all(|w| w[0] < w[1]), "order not kept: {:?}", part.pixels);
    }
    // The first of each class, in order: indices 0 (class 0), 1 (class 1), 6 (class 2).
    assert_eq!(set.first_per_class(1).pixels, [0, 1, 6]);
    assert_eq!(set.first_per_class(2).pixels, [0, 1, 2, 3, 6, 11]);
    assert_eq!(set.first_per_class(100), ImageSet { name: "numbered-subset".into(), ..set.clone() });
    let (none, all) = set.stratified_split(1, 7);
    assert!(none.is_empty());
    assert_eq!(all, ImageSet { name: "numbered-subset".into(), ..set.clone() });
}

#[test]
fn stratified_split_over_random_sets_and_seeds() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for seed in 0..40 {
        let (n, classes, denominator) = (rng.gen_range(1..=200), rng.gen_range(1..=6), rng.gen_range(1..=7));
        let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..classes) as u8).collect();
        let set = numbered(&labels, classes);
        let (kept, held) = set.stratified_split(denominator, seed);
        for (c, &count) in set.class_counts().iter().enumerate() {
            let want = (count + (denominator - 1) / 2) / denominator;
            assert_eq!(held.class_counts()[c], want, "class {c} of {count}, denominator {denominator}");
        }
        assert_same_images(&[&kept, &held], &set);
        assert_eq!(set.stratified_split(denominator, seed), (kept, held), "same seed, same split");
    }
    // The seed picks which images are held out (a fixed rule such as "the first of each
    // class" would give one set per size).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let labels: Vec<u8> = (0..100).map(|_| rng.gen_range(0..3u8)).collect();
    let set = numbered(&labels, 3);
    let picks: std::collections::HashSet<Vec<u8>> =
        (0..10).map(|seed| set.stratified_split(4, seed).1.pixels).collect();
    assert!(picks.len() >= 9, "10 seeds gave only {} different held-out sets", picks.len());
}

#[test]
fn image_set_helpers() {
    let set = ImageSet {
        name: "toy".into(),
        channels: 2,
        height: 1,
        width: 2,
        max_value: 4,
        pixels: vec![0, 1, 2, 3, 4, 4, 4, 4, 1, 1, 1, 1],
        labels: vec![2, 0, 2],
        class_names: vec!["a".into(), "b".into(), "c".into()],
    };
    assert_eq!((set.len(), set.image_len(), set.is_empty()), (3, 4, false));
    assert_eq!(set.image(1), &[4, 4, 4, 4]);
    assert_eq!(set.label(2), 2);
    assert_eq!(set.class_counts(), vec![1, 0, 2]);
    let sub = set.subset(&[2, 0, 2]);
    assert_eq!(sub.len(), 3);
    assert_eq!(sub.pixels, vec![1, 1, 1, 1, 0, 1, 2, 3, 1, 1, 1, 1]);
    assert_eq!(sub.labels, vec![2, 2, 2]);
    assert_eq!((sub.channels, sub.height, sub.width, sub.max_value), (2, 1, 2, 4));
    assert!(set.subset(&[]).is_empty());
    assert_eq!(set.pixels_f32()[..4], [0.0, 0.25, 0.5, 0.75]);
}

// ---------------------------------------------------------------------------------------------
// fashion

#[test]
fn fashion_train_subset_is_balanced() {
    let t = fashion::train().unwrap();
    assert_eq!(t.name, "fashion-train");
    assert_eq!((t.len(), t.channels, t.height, t.width, t.max_value), (12_000, 1, 28, 28, 255));
    assert_eq!(t.pixels.len(), 12_000 * 784);
    assert_eq!(t.class_counts(), vec![1200; 10]);
    assert_eq!(t.class_names[0], "T-shirt/top");
    assert_eq!(t.class_names[9], "Ankle boot");
    // The official train split starts with an ankle boot, then a T-shirt/top.
    assert_eq!((t.label(0), t.label(1)), (9, 0));
    assert_eq!(t.pixels.iter().max(), Some(&255));
    assert_eq!(t.pixels.iter().min(), Some(&0));
}

#[test]
fn fashion_test_split_is_the_official_one() {
    let t = fashion::test().unwrap();
    assert_eq!(t.name, "fashion-test");
    assert_eq!((t.len(), t.height, t.width), (10_000, 28, 28));
    assert_eq!(t.class_counts(), vec![1000; 10]);
    assert!(t.labels.iter().all(|&l| l < 10));
    // The official test split starts with an ankle boot, a pullover, a trouser.
    assert_eq!((t.label(0), t.label(1), t.label(2)), (9, 2, 1));
}

// ---------------------------------------------------------------------------------------------
// photos

#[test]
fn photos_load_with_expected_sizes() {
    let expected = [
        (Photo::Camera, 512, 512),
        (Photo::Astronaut, 512, 512),
        (Photo::Coins, 384, 303),
        (Photo::Coffee, 600, 400),
        (Photo::Chelsea, 451, 300),
    ];
    for (photo, w, h) in expected {
        assert_eq!(photo.size(), (w, h));
        let rgb = photos::load_rgb(photo).unwrap();
        let grey = photos::load_gray(photo).unwrap();
        assert_eq!(rgb.dimensions(), (w, h), "{photo:?}");
        assert_eq!(grey.dimensions(), (w, h), "{photo:?}");
        let grey_file = rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]);
        assert_eq!(grey_file, !photo.is_colour(), "{photo:?}");
        if !photo.is_colour() {
            assert!(rgb.pixels().zip(grey.pixels()).all(|(c, g)| c[0] == g[0]));
        }
        let spread = grey.pixels().map(|p| p[0]).max().unwrap() - grey.pixels().map(|p| p[0]).min().unwrap();
        assert!(spread > 100, "{photo:?} looks flat");
    }
    assert_eq!(Photo::ALL.len(), 5);
    assert_eq!(Photo::Camera.file(), "photos/camera.png");
}

// ---------------------------------------------------------------------------------------------
// errors

#[test]
fn missing_file_is_reported_with_restore_instructions() {
    let t = TempData::new();
    t.copy("SHA256SUMS");
    let err = digits::load_from(t.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { file, .. } if file == &t.path().join(digits::FILE)),
        "{err:?}"
    );
    assert_display_helps(&err, "digits/digits.csv.gz");

    let err = fashion::test_from(t.path()).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    assert_display_helps(&err, "fashion/t10k-images-idx3-ubyte.gz");

    let err = photos::load_rgb_from(t.path(), Photo::Coins).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    assert_display_helps(&err, "photos/coins.png");

    // Without the manifest, the manifest is what is missing.
    let t = TempData::new();
    t.copy(digits::FILE);
    let err = digits::load_from(t.path()).unwrap_err();
    assert!(matches!(&err, DataError::Missing { file, .. } if file.ends_with("SHA256SUMS")), "{err:?}");
    assert_display_helps(&err, "SHA256SUMS");
}

#[test]
fn corrupt_file_is_detected() {
    let sums = std::fs::read_to_string(shipped().join("SHA256SUMS")).unwrap();
    let expected = sums.lines().find(|l| l.ends_with(digits::FILE)).unwrap()[..64].to_string();

    // One flipped bit.
    let t = TempData::with_copy(digits::FILE);
    let path = t.path().join(digits::FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = digits::load_from(t.path()).unwrap_err();
    match &err {
        DataError::Corrupt { file, expected_sha256, actual_sha256, .. } => {
            assert_eq!(file, &path);
            assert_eq!(expected_sha256, &expected);
            assert_eq!(actual_sha256, &sha256_hex(&bytes));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_display_helps(&err, "digits/digits.csv.gz");
    assert!(err.to_string().contains(&expected));

    // Truncated photo.
    let t = TempData::with_copy(Photo::Camera.file());
    let path = t.path().join(Photo::Camera.file());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = photos::load_gray_from(t.path(), Photo::Camera).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
    assert_display_helps(&err, "photos/camera.png");

    // Truncated labels, images intact.
    let t = TempData::with_copy(fashion::TEST_LABELS);
    t.copy(fashion::TEST_IMAGES);
    std::fs::write(t.path().join(fashion::TEST_LABELS), b"").unwrap();
    let err = fashion::test_from(t.path()).unwrap_err();
    assert!(matches!(&err, DataError::Corrupt { file, .. } if file.ends_with("t10k-labels-idx1-ubyte.gz")));
}

#[test]
fn corruption_after_a_successful_load_is_still_detected() {
    let t = TempData::with_copy(digits::FILE);
    assert_eq!(digits::load_from(t.path()).unwrap().len(), 1797);
    let path = t.path().join(digits::FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(digits::load_from(t.path()), Err(DataError::Corrupt { .. })));
}

#[test]
fn unparsable_file_with_matching_checksum_is_a_format_error() {
    let t = TempData::new();
    t.write_listed(digits::FILE, &gzip(b"1,2,3\n"));
    let err = digits::load_from(t.path()).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }), "{err:?}");
    assert_display_helps(&err, "digits/digits.csv.gz");

    let t = TempData::new();
    t.write_listed(digits::FILE, b"not gzip at all");
    assert!(matches!(digits::load_from(t.path()), Err(DataError::Format { .. })));

    let t = TempData::new();
    t.write_listed(fashion::TRAIN_IMAGES, &gzip(&[0u8; 32]));
    t.write_listed(fashion::TRAIN_LABELS, &gzip(&[0u8; 32]));
    let err = fashion::train_from(t.path()).unwrap_err();
    assert!(matches!(&err, DataError::Format { file, .. } if file.ends_with("train-images-idx3-ubyte.gz")));

    let t = TempData::new();
    t.write_listed(Photo::Coffee.file(), b"\x89PNG but not really");
    let err = photos::load_rgb_from(t.path(), Photo::Coffee).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }), "{err:?}");
    assert_display_helps(&err, "photos/coffee.png");

    // A file that the manifest does not list.
    let t = TempData::new();
    t.copy(digits::FILE);
    std::fs::write(t.path().join("SHA256SUMS"), "").unwrap();
    let err = digits::load_from(t.path()).unwrap_err();
    assert!(matches!(&err, DataError::Format { file, .. } if file.ends_with("SHA256SUMS")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// shapes

/// Every byte of a scene that matters: image, masks, caption, questions, objects.
fn scene_bytes(s: &Scene) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(s.width() as u32).to_le_bytes());
    b.extend_from_slice(&(s.height() as u32).to_le_bytes());
    b.extend_from_slice(s.image.as_raw());
    for &v in &s.instance_mask {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&s.semantic_mask);
    b.extend_from_slice(s.caption.as_bytes());
    b.push(b'\n');
    for q in &s.questions {
        b.extend_from_slice(format!("{}\t{}\t{:?}\n", q.question, q.answer, q.kind).as_bytes());
    }
    for o in &s.objects {
        let line = format!(
            "{:?} {:?} {:?} {:?} {:?} {} {}\n",
            o.kind, o.colour, o.bbox, o.footprint, o.centre, o.size, o.visible_pixels
        );
        b.extend_from_slice(line.as_bytes());
    }
    b
}

/// SHA-256 of `scene_bytes(&generate(&ShapesConfig::default(), 42))`. If this changes, the
/// generator's output changed: every seeded data set of the course changes with it.
const GOLDEN_SCENE_42: &str = "b184c36ad3634538901c4c30d3aa59d238aec754a9440f3d50fc85c2278a20a7";

/// SHA-256 of the concatenated `scene_bytes` of `generate_many(&golden_many_config(), 42, 16)`
/// (overlap, gradient background, up to 6 objects: exercises every caption form).
const GOLDEN_MANY_42: &str = "5a77472c6895768774b9271ea1f33929c1909c85220f37db1cb716c6112fd0ef";

fn golden_many_config() -> ShapesConfig {
    ShapesConfig {
        min_objects: 0,
        max_objects: 6,
        allow_overlap: true,
        background: Background::VerticalGradient { top: 30, bottom: 90 },
        ..ShapesConfig::default()
    }
}

#[test]
fn shapes_golden_scene() {
    let scene = generate(&ShapesConfig::default(), 42);
    assert_eq!(scene.caption, "a red triangle");
    let hash = sha256_hex(&scene_bytes(&scene));
    assert_eq!(hash, GOLDEN_SCENE_42, "the generator's output for seed 42 changed");

    let scenes = generate_many(&golden_many_config(), 42, 16);
    let bytes: Vec<u8> = scenes.iter().flat_map(scene_bytes).collect();
    let captions: Vec<&str> = scenes.iter().map(|s| s.caption.as_str()).collect();
    assert_eq!(sha256_hex(&bytes), GOLDEN_MANY_42, "the generator's output changed: {captions:#?}");
}

#[test]
fn shapes_same_seed_same_bytes_and_different_seeds_differ() {
    for config in configs() {
        let a = generate(&config, 7);
        let b = generate(&config, 7);
        assert_eq!(a, b);
        assert_eq!(scene_bytes(&a), scene_bytes(&b));
        let c = generate(&config, 8);
        assert_ne!(a.image, c.image);
    }
    let many = generate_many(&ShapesConfig::default(), 5, 20);
    assert_eq!(many.len(), 20);
    for (i, s) in many.iter().enumerate() {
        assert_eq!(s.seed, scene_seed(5, i));
        assert_eq!(s, &generate(&ShapesConfig::default(), scene_seed(5, i)));
    }
    let distinct: std::collections::HashSet<Vec<u8>> = many.iter().map(scene_bytes).collect();
    assert_eq!(distinct.len(), 20);
    assert_ne!(scene_seed(5, 0), scene_seed(6, 0));
    assert_ne!(scene_seed(5, 0), scene_seed(5, 1));
}

fn configs() -> Vec<ShapesConfig> {
    let default = ShapesConfig::default();
    vec![
        default.clone(),
        ShapesConfig { allow_overlap: true, max_objects: 6, ..default.clone() },
        ShapesConfig {
            height: 48,
            width: 80,
            min_objects: 0,
            max_objects: 4,
            min_size: 3,
            max_size: 20,
            noise_std: 0.0,
            background: Background::VerticalGradient { top: 10, bottom: 200 },
            allow_overlap: false,
        },
        ShapesConfig {
            min_objects: 2,
            max_objects: 5,
            noise_std: 30.0,
            background: Background::RandomGrey { min: 0, max: 255 },
            allow_overlap: true,
            ..default
        },
    ]
}

/// Check every documented invariant of a scene.
fn check_scene(config: &ShapesConfig, s: &Scene) {
    let (w, h) = (config.width, config.height);
    assert_eq!((s.width(), s.height()), (w, h));
    assert_eq!(s.instance_mask.len(), w * h);
    assert_eq!(s.semantic_mask.len(), w * h);
    let n = s.objects.len();
    assert!((config.min_objects..=config.max_objects).contains(&n), "{n} objects");

    // Boxes: every instance pixel inside its box, boxes tight, semantic = kind on top.
    let mut seen = vec![BBox { x_min: u32::MAX, y_min: u32::MAX, x_max: 0, y_max: 0 }; n];
    let mut counts = vec![0usize; n];
    for y in 0..h {
        for x in 0..w {
            let id = s.instance_mask[y * w + x] as usize;
            assert!(id <= n);
            if id == 0 {
                assert_eq!(s.semantic_mask[y * w + x], 0);
                continue;
            }
            let o = &s.objects[id - 1];
            assert_eq!(s.semantic_mask[y * w + x] as usize, 1 + o.kind.class_id());
            assert!(o.bbox.contains(x as u32, y as u32));
            assert!(o.footprint.contains(x as u32, y as u32));
            let b = &mut seen[id - 1];
            b.x_min = b.x_min.min(x as u32);
            b.y_min = b.y_min.min(y as u32);
            b.x_max = b.x_max.max(x as u32 + 1);
            b.y_max = b.y_max.max(y as u32 + 1);
            counts[id - 1] += 1;
        }
    }
    for (i, o) in s.objects.iter().enumerate() {
        assert_eq!(o.bbox, seen[i], "box of object {i} is not tight");
        assert_eq!(o.visible_pixels, counts[i]);
        assert!(o.visible_pixels > 0);
        assert!((config.min_size..=config.max_size).contains(&(o.size as usize)));
        assert_eq!(o.footprint.width(), o.size);
        assert_eq!(o.footprint.height(), o.size);
        assert!(o.footprint.x_max as usize <= w && o.footprint.y_max as usize <= h);
        let cx = o.footprint.x_min as f32 + o.size as f32 / 2.0;
        let cy = o.footprint.y_min as f32 + o.size as f32 / 2.0;
        assert_eq!(o.centre, (cx, cy));
        if o.kind == ShapeKind::Square && !config.allow_overlap {
            assert_eq!(o.bbox, o.footprint);
        }
    }
    if !config.allow_overlap {
        for (i, a) in s.objects.iter().enumerate() {
            for b in &s.objects[i + 1..] {
                let apart = a.footprint.x_min > b.footprint.x_max
                    || b.footprint.x_min > a.footprint.x_max
                    || a.footprint.y_min > b.footprint.y_max
                    || b.footprint.y_min > a.footprint.y_max;
                assert!(apart, "footprints touch: {a:?} {b:?}");
                assert_eq!(a.footprint.iou(&b.footprint), 0.0);
            }
        }
    }

    // Pixels (noise-free configs only): object colour under the mask, background elsewhere.
    if config.noise_std == 0.0 {
        for y in 0..h {
            for x in 0..w {
                let px = s.image.get_pixel(x as u32, y as u32).0;
                let id = s.instance_mask[y * w + x] as usize;
                if id > 0 {
                    assert_eq!(px, s.objects[id - 1].colour.rgb());
                } else {
                    assert!(px[0] == px[1] && px[1] == px[2], "background is grey");
                    if let Background::Plain(g) = config.background {
                        assert_eq!(px[0], g);
                    }
                    if let Background::VerticalGradient { top, bottom } = config.background {
                        assert!(px[0] >= top.min(bottom) && px[0] <= top.max(bottom));
                    }
                }
            }
        }
    }

    check_language(s);
}

/// Recompute every answer from the objects, and check the caption mentions every object.
fn check_language(s: &Scene) {
    let objs = &s.objects;
    let n_kind = |k: ShapeKind| objs.iter().filter(|o| o.kind == k).count();
    let n_colour = |c: Colour| objs.iter().filter(|o| o.colour == c).count();
    let yes = |b: bool| if b { "yes" } else { "no" };
    for q in &s.questions {
        assert!(q.question.ends_with('?'));
        let text = q.question.as_str();
        let expected: String = match q.kind {
            QuestionKind::Count => {
                if text == "how many shapes are there?" {
                    objs.len().to_string()
                } else {
                    let k = ShapeKind::ALL.into_iter().find(|k| text.contains(k.plural())).unwrap();
                    n_kind(k).to_string()
                }
            }
            QuestionKind::Exists => {
                if let Some(k) =
                    ShapeKind::ALL.into_iter().find(|k| text.ends_with(&format!(" {}?", k.name())))
                {
                    yes(n_kind(k) > 0).into()
                } else {
                    let c =
                        Colour::ALL.into_iter().find(|c| text.contains(&format!(" {} ", c.name()))).unwrap();
                    yes(n_colour(c) > 0).into()
                }
            }
            QuestionKind::Colour => {
                let k = ShapeKind::ALL.into_iter().find(|k| text.contains(k.name())).unwrap();
                assert_eq!(n_kind(k), 1);
                objs.iter().find(|o| o.kind == k).unwrap().colour.name().into()
            }
            QuestionKind::Shape => {
                let c = Colour::ALL.into_iter().find(|c| text.contains(c.name())).unwrap();
                assert_eq!(n_colour(c), 1);
                objs.iter().find(|o| o.colour == c).unwrap().kind.name().into()
            }
            QuestionKind::Position => {
                // "is the <colour> <kind> left of|above the <colour> <kind>?"
                let body = text.strip_prefix("is the ").unwrap().strip_suffix('?').unwrap();
                let (rel, a, b) = if let Some((a, b)) = body.split_once(" left of the ") {
                    ("left", a, b)
                } else {
                    let (a, b) = body.split_once(" above the ").unwrap();
                    ("above", a, b)
                };
                let find = |d: &str| {
                    let matches: Vec<_> = objs
                        .iter()
                        .filter(|o| format!("{} {}", o.colour.name(), o.kind.name()) == d)
                        .collect();
                    assert_eq!(matches.len(), 1, "{d} is not unique");
                    matches[0]
                };
                let (a, b) = (find(a), find(b));
                let min_sep = shapes::MIN_SEPARATION as f32;
                if rel == "left" {
                    assert!((a.centre.0 - b.centre.0).abs() >= min_sep);
                    yes(a.centre.0 < b.centre.0).into()
                } else {
                    assert!((a.centre.1 - b.centre.1).abs() >= min_sep);
                    yes(a.centre.1 < b.centre.1).into()
                }
            }
        };
        assert_eq!(q.answer, expected, "{}", q.question);
    }
    // Fixed questions are always there: 4 counts and 9 existence questions.
    assert_eq!(s.questions.iter().filter(|q| q.kind == QuestionKind::Count).count(), 4);
    assert_eq!(s.questions.iter().filter(|q| q.kind == QuestionKind::Exists).count(), 9);
    for k in ShapeKind::ALL {
        let asked = s.questions.iter().any(|q| q.question == format!("what colour is the {}?", k.name()));
        assert_eq!(asked, n_kind(k) == 1);
    }

    // Caption: mentions each object ("<colour> <kind>") as often as it occurs.
    for o in objs {
        let d = format!("{} {}", o.colour.name(), o.kind.name());
        let times = objs.iter().filter(|p| p.kind == o.kind && p.colour == o.colour).count();
        assert_eq!(s.caption.matches(&d).count(), times, "{d} in {:?}", s.caption);
    }
    match objs.len() {
        0 => assert_eq!(s.caption, "no shapes"),
        1 => assert!(!s.caption.contains(" of ") && !s.caption.contains(':')),
        2 => {
            let (a, b) = (&objs[0], &objs[1]);
            let (dx, dy) = (b.centre.0 - a.centre.0, b.centre.1 - a.centre.1);
            let (first, second) = s
                .caption
                .split_once(" left of ")
                .or_else(|| s.caption.split_once(" above "))
                .unwrap_or(("", ""));
            if s.caption.contains(" left of ") {
                assert!(dx.abs() >= dy.abs());
                let left = if dx > 0.0 { a } else { b };
                assert!(
                    first.ends_with(&format!("{} {}", left.colour.name(), left.kind.name())),
                    "{}",
                    s.caption
                );
                assert!(!second.is_empty());
            } else if s.caption.contains(" above ") {
                assert!(dy.abs() > dx.abs());
                let top = if dy > 0.0 { a } else { b };
                assert!(
                    first.ends_with(&format!("{} {}", top.colour.name(), top.kind.name())),
                    "{}",
                    s.caption
                );
            } else {
                assert!(s.caption.contains(" and "));
                assert!(dx.abs().max(dy.abs()) < shapes::MIN_SEPARATION as f32);
            }
        }
        n => {
            let words = ["three", "four", "five", "six", "seven", "eight", "nine", "ten"];
            let prefix = words.get(n - 3).map_or_else(|| n.to_string(), |w| w.to_string());
            assert!(s.caption.starts_with(&format!("{prefix} shapes: ")), "{}", s.caption);
        }
    }
    assert!(!s.caption.contains("a orange"), "{}", s.caption);
    assert!(!s.questions.iter().any(|q| q.question.contains("a orange")));
}

#[test]
fn shapes_properties_over_many_seeds() {
    for config in configs() {
        let mut object_counts = vec![0usize; config.max_objects + 1];
        let mut kinds = [0usize; 3];
        let mut colours = [0usize; 6];
        let mut answers = std::collections::HashMap::<(QuestionKind, String), usize>::new();
        for seed in 0..300u64 {
            let s = generate(&config, seed);
            check_scene(&config, &s);
            object_counts[s.objects.len()] += 1;
            for o in &s.objects {
                kinds[o.kind.class_id()] += 1;
                colours[o.colour.id()] += 1;
            }
            for q in &s.questions {
                *answers.entry((q.kind, q.answer.clone())).or_default() += 1;
            }
        }
        // Every allowed count, kind and colour occurs; yes and no both occur.
        assert!(object_counts[config.min_objects..].iter().all(|&c| c > 0), "{object_counts:?}");
        assert!(kinds.iter().all(|&c| c > 0) && colours.iter().all(|&c| c > 0));
        for kind in [QuestionKind::Exists, QuestionKind::Position] {
            assert!(answers.contains_key(&(kind, "yes".into())), "{kind:?}");
            assert!(answers.contains_key(&(kind, "no".into())), "{kind:?}");
        }
    }
}

#[test]
fn shapes_overlap_keeps_every_object_half_visible() {
    let config = ShapesConfig {
        allow_overlap: true,
        min_objects: 5,
        max_objects: 8,
        min_size: 16,
        max_size: 40,
        ..ShapesConfig::default()
    };
    let mut occluded = 0;
    for seed in 0..100 {
        let s = generate(&config, seed);
        check_scene(&config, &s);
        for o in &s.objects {
            let full = full_pixels(o);
            assert!(2 * o.visible_pixels >= full, "{} of {full}", o.visible_pixels);
            occluded += usize::from(o.visible_pixels < full);
        }
    }
    assert!(occluded > 0, "overlap never happened");
}

/// The number of pixels of the shape of `o` when nothing covers it, recomputed here from
/// the documented geometry (pixel centres, doubled coordinates).
fn full_pixels(o: &shapes::ShapeObject) -> usize {
    let s = i64::from(o.size);
    let mut count = 0;
    for y in 0..s {
        for x in 0..s {
            let (px, py) = (2 * x + 1, 2 * y + 1);
            let inside = match o.kind {
                ShapeKind::Square => true,
                ShapeKind::Circle => (px - s) * (px - s) + (py - s) * (py - s) <= s * s,
                ShapeKind::Triangle => {
                    // Inside iff below both slanted edges from the apex (s, 0).
                    let left = 2 * s * (px - s) + s * py; // edge apex -> bottom-left
                    let right = -2 * s * (px - s) + s * py; // edge apex -> bottom-right
                    left >= 0 && right >= 0 && py <= 2 * s
                }
            };
            count += usize::from(inside);
        }
    }
    count
}

#[test]
fn shapes_rasterisation_areas() {
    // Noise-free, one object, no overlap: visible pixels = full shape.
    let config = ShapesConfig {
        min_objects: 1,
        max_objects: 1,
        min_size: 3,
        max_size: 64,
        noise_std: 0.0,
        ..ShapesConfig::default()
    };
    for seed in 0..300 {
        let s = generate(&config, seed);
        let o = &s.objects[0];
        assert_eq!(o.visible_pixels, full_pixels(o), "{o:?}");
        let side = o.size as f32;
        let area = o.visible_pixels as f32;
        let ideal = match o.kind {
            ShapeKind::Square => side * side,
            ShapeKind::Circle => std::f32::consts::PI * side * side / 4.0,
            ShapeKind::Triangle => side * side / 2.0,
        };
        assert!((area - ideal).abs() <= 2.0 * side + 2.0, "{:?} size {}: {area} vs {ideal}", o.kind, o.size);
        // Shapes are symmetric about the footprint's vertical axis.
        let w = s.width();
        for y in o.footprint.y_min..o.footprint.y_max {
            for dx in 0..o.size {
                let x = o.footprint.x_min + dx;
                let mirror = o.footprint.x_max - 1 - dx;
                let a = s.instance_mask[y as usize * w + x as usize];
                let b = s.instance_mask[y as usize * w + mirror as usize];
                assert_eq!(a, b);
            }
        }
        // Boxes of circles and squares fill the footprint; triangles touch the bottom.
        match o.kind {
            ShapeKind::Square | ShapeKind::Circle => assert_eq!(o.bbox, o.footprint),
            ShapeKind::Triangle => assert_eq!(o.bbox.y_max, o.footprint.y_max),
        }
    }
}

#[test]
fn shapes_noise_and_background_do_not_move_objects() {
    let base = ShapesConfig::default();
    let quiet = ShapesConfig { noise_std: 0.0, background: Background::Plain(128), ..base.clone() };
    for seed in 0..20 {
        let (a, b) = (generate(&base, seed), generate(&quiet, seed));
        assert_eq!(a.objects, b.objects);
        assert_eq!(a.instance_mask, b.instance_mask);
        assert_eq!(a.caption, b.caption);
        assert_eq!(a.questions, b.questions);
        assert_ne!(a.image, b.image);
    }
    // Noise has about the requested standard deviation and zero mean.
    let flat = ShapesConfig {
        min_objects: 0,
        max_objects: 0,
        noise_std: 10.0,
        background: Background::Plain(128),
        ..base
    };
    let s = generate(&flat, 1);
    let v: Vec<f64> = s.image.as_raw().iter().map(|&p| f64::from(p) - 128.0).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64).sqrt();
    assert!(mean.abs() < 0.5, "mean {mean}");
    assert!((std - 10.0).abs() < 0.5, "std {std}");
    assert!(v.iter().all(|x| x.abs() <= 35.0));
}

#[test]
fn shapes_image_chw_and_helpers() {
    let s = generate(&ShapesConfig::default(), 3);
    let chw = s.image_chw();
    let (w, h) = (s.width(), s.height());
    assert_eq!(chw.len(), 3 * w * h);
    for (x, y) in [(0, 0), (5, 7), (63, 63)] {
        let p = s.image.get_pixel(x as u32, y as u32).0;
        for c in 0..3 {
            assert_eq!(chw[c * w * h + y * w + x], p[c]);
        }
    }
    let counts = s.kind_counts();
    assert_eq!(counts.iter().sum::<usize>(), s.objects.len());
    assert_eq!(ShapeKind::from_class_id(2), Some(ShapeKind::Triangle));
    assert_eq!(ShapeKind::from_class_id(3), None);
    let b = BBox { x_min: 0, y_min: 0, x_max: 4, y_max: 4 };
    let c = BBox { x_min: 2, y_min: 0, x_max: 6, y_max: 4 };
    assert_eq!(b.iou(&b), 1.0);
    assert!((b.iou(&c) - 8.0 / 24.0).abs() < 1e-6);
    assert_eq!(b.normalised(8, 16), [0.0, 0.0, 0.5, 0.25]);
}

#[test]
fn shapes_config_validation() {
    assert!(ShapesConfig::default().validate().is_ok());
    let bad = [
        ShapesConfig { max_size: 65, ..ShapesConfig::default() },
        ShapesConfig { min_size: 2, ..ShapesConfig::default() },
        ShapesConfig { min_objects: 4, ..ShapesConfig::default() },
        ShapesConfig { noise_std: f32::NAN, ..ShapesConfig::default() },
        ShapesConfig { width: 0, ..ShapesConfig::default() },
        ShapesConfig { background: Background::RandomGrey { min: 9, max: 8 }, ..ShapesConfig::default() },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
        assert!(std::panic::catch_unwind(|| generate(&c, 0)).is_err());
    }
}

#[test]
#[should_panic(expected = "too crowded")]
fn shapes_impossible_layout_panics() {
    let c = ShapesConfig {
        min_objects: 10,
        max_objects: 10,
        min_size: 30,
        max_size: 30,
        ..ShapesConfig::default()
    };
    generate(&c, 0);
}
