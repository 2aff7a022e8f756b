#!/usr/bin/env bash
# Reproduce the files under datasets/data/ from the upstream packages.
#
# Not run by tests or builds: the extracted files are committed. Run it by hand
# (from anywhere) to restore or audit the data; it needs network access to PyPI
# and a Debian/Ubuntu apt mirror, plus python3 (standard library only), unzip and
# dpkg-deb. It writes into datasets/data/ and then checks datasets/data/SHA256SUMS.
#
# Usage: datasets/extract.sh [WORK_DIR]     (WORK_DIR defaults to a fresh temp dir)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="$HERE/data"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK" "$DATA/digits" "$DATA/fashion" "$DATA/photos"
cd "$WORK"

# Versions used for the committed files (others very likely ship the same bytes;
# the SHA256SUMS check at the end tells).
SKLEARN="scikit-learn==1.9.1"
SKIMAGE="scikit-image==0.26.0"

echo "== wheels (scikit-learn, scikit-image) =="
pip download "$SKLEARN" "$SKIMAGE" --no-deps --only-binary=:all: -d wheels
unzip -o -j wheels/scikit_learn-*.whl sklearn/datasets/data/digits.csv.gz -d "$DATA/digits"
for p in camera astronaut coins coffee chelsea; do
  unzip -o -j wheels/scikit_image-*.whl "skimage/data/$p.png" -d "$DATA/photos"
done

echo "== Debian package dataset-fashion-mnist =="
apt-get download dataset-fashion-mnist
dpkg-deb -x dataset-fashion-mnist_*_all.deb fm
FM="$WORK/fm/usr/share/datasets/fashion-mnist"
# Test split: the official 10k test split, copied byte for byte.
cp "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" "$DATA/fashion/"
# Train split: the first 1200 images of each class, in file order, of the official
# 60k train split (12,000 images; the last one kept is index 12667). Written as IDX,
# gzip level 9, no file name, mtime 0 (Python's zlib; byte-identical output needs the
# same zlib, the uncompressed SHA-256s in datasets/README.md do not).
python3 - "$FM" "$DATA/fashion" 1200 <<'PY'
import gzip, hashlib, struct, sys
src, dst, per_class = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(f"{src}/train-labels-idx1-ubyte.gz") as f:
    lab = f.read()
with gzip.open(f"{src}/train-images-idx3-ubyte.gz") as f:
    img = f.read()
assert struct.unpack(">II", lab[:8]) == (2049, 60000)
assert struct.unpack(">IIII", img[:16]) == (2051, 60000, 28, 28)
labels, pix = lab[8:], img[16:]
counts, keep = [0] * 10, []
for i, l in enumerate(labels):
    if counts[l] < per_class:
        counts[l] += 1
        keep.append(i)
n = len(keep)
out_lab = struct.pack(">II", 2049, n) + bytes(labels[i] for i in keep)
out_img = struct.pack(">IIII", 2051, n, 28, 28) + b"".join(pix[i * 784:(i + 1) * 784] for i in keep)
for name, data in [("train-labels-idx1-ubyte.gz", out_lab), ("train-images-idx3-ubyte.gz", out_img)]:
    with open(f"{dst}/{name}", "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=f, mtime=0) as g:
            g.write(data)
    print(f"{name}: {n} items, uncompressed sha256 {hashlib.sha256(data).hexdigest()}")
print(f"last kept train index: {keep[-1]}")
PY

echo "== checksums =="
cd "$DATA"
sha256sum -c SHA256SUMS
