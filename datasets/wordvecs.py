#!/usr/bin/python3
"""Word vectors trained with Debian's fasttext on text Debian ships, as an ann-benchmarks file.

Real float embeddings from a model, angular, with the near-duplicates such models make
(inflections and misspellings share subwords, so their vectors nearly coincide): the kind of
data vecseg must be fast on, and a set nothing was tuned to.

  datasets/wordvecs.py [-o OUT] [--queries Q] [--seed S] [--dim D] [--min-count N]

1. The corpus is the English manual pages (/usr/share/man/man*/*.gz, roff requests and font
   escapes stripped) and the plain-text documentation under /usr/share/doc (README, *.txt,
   *.md, *.rst, gzipped or not; changelogs and copyright files left out), read in sorted path
   order, lower-cased, split into words of letters and apostrophes.  What it holds depends on
   the packages installed: the output records the corpus's word count and SHA-256.
2. `fasttext skipgram -dim D -minCount N -epoch 5 -thread 2` learns one vector per word seen at
   least N times.  fasttext's threads make training nondeterministic; the ground truth is
   computed from the vectors written, so the file is always self-consistent.
3. Q words, chosen with a seeded generator, are held out as queries (`test`); the others are
   the rows (`train`).  Exact angular ground truth (100 neighbours) from groundtruth.py.

fasttext dominates: 50 minutes on a loaded 2-core machine for 18M words (39,664 rows and
10,000 queries at --min-count 2).  The file is written under a temporary name and renamed.
"""

import argparse
import glob
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

import groundtruth as gt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
K = 100
WORD = re.compile(rb"[a-z']+")
ROFF_REQUEST = re.compile(rb"^[.'][A-Za-z\\]+[^\n]*?(?= |$)", re.M)
ROFF_ESCAPE = re.compile(rb"\\(f[BIRP]|f\(..|\(..|\*.|[-&e|^])")


def sources():
    man = sorted(glob.glob("/usr/share/man/man*/*.gz"))
    doc = []
    for root, _, files in os.walk("/usr/share/doc"):
        for f in files:
            low = f.lower()
            if low.startswith(("changelog", "copyright", "news")):
                continue
            base = low[:-3] if low.endswith(".gz") else low
            if base.startswith("readme") or base.endswith((".txt", ".md", ".rst")):
                doc.append(os.path.join(root, f))
    return man, sorted(doc)


def read(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError):
        return b""


def write_corpus(path):
    """Writes the corpus one document per line; returns (words, sha256 hex)."""
    man, doc = sources()
    h, words = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for p, roff in [(p, True) for p in man] + [(p, False) for p in doc]:
            text = read(p)
            if roff:
                text = ROFF_ESCAPE.sub(b" ", ROFF_REQUEST.sub(b" ", text))
            w = WORD.findall(text.lower())
            if not w:
                continue
            line = b" ".join(w) + b"\n"
            out.write(line)
            h.update(line)
            words += len(w)
    return words, h.hexdigest(), len(man), len(doc)


def read_vec(path):
    """fasttext's .vec text: a header "count dim", then "word v1 ... vD" per line."""
    with open(path, "rb") as f:
        n, dim = map(int, f.readline().split())
        names, rows = [], np.empty((n, dim), dtype=np.float32)
        for i, line in enumerate(f):
            parts = line.rstrip(b"\n").split(b" ")
            names.append(parts[0])
            rows[i] = np.array(parts[1:dim + 1], dtype=np.float32)
    if len(names) != n:
        raise ValueError(f"'{path}': {len(names)} vectors, header says {n}")
    return names, rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", default=os.path.join(HERE, "wordvecs-100-angular.hdf5"))
    p.add_argument("--queries", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--min-count", type=int, default=2)
    a = p.parse_args()
    if not shutil.which("fasttext"):
        gt.log("wordvecs: fasttext not found (Debian package fasttext; scripts/deps bench installs it)")
        return 69
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="wordvecs.") as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        words, sha, nman, ndoc = write_corpus(corpus)
        gt.log(f"wordvecs: corpus of {words} words from {nman} manual pages and {ndoc} documents "
               f"(sha256 {sha[:16]}), {time.time() - t0:.0f}s")
        model = os.path.join(tmp, "model")
        subprocess.run(["fasttext", "skipgram", "-input", corpus, "-output", model, "-dim", str(a.dim),
                        "-minCount", str(a.min_count), "-epoch", "5", "-thread", "2", "-verbose", "0"],
                       check=True)
        names, vecs = read_vec(model + ".vec")
    gt.log(f"wordvecs: {len(names)} vectors of {a.dim}, {time.time() - t0:.0f}s")
    if a.queries >= len(names):
        gt.log(f"wordvecs: --queries {a.queries} leaves no rows of {len(names)}")
        return 65
    rng = np.random.default_rng(a.seed)
    held = np.zeros(len(names), dtype=bool)
    held[rng.choice(len(names), a.queries, replace=False)] = True
    train, test = vecs[~held], vecs[held]
    step = 1 << 15
    chunks = lambda: (train[s:s + step] for s in range(0, len(train), step))
    neighbors, distances = gt.knn(test, K, "angular", chunks(), chunks)
    with gt.AnnWriter(a.output, len(train), a.dim, "angular") as w:
        w.train[:] = train
        w.put("test", test)
        w.put("neighbors", neighbors)
        w.put("distances", distances)
        w.f.attrs["corpus_words"] = words
        w.f.attrs["corpus_sha256"] = sha
        w.f.attrs["source"] = "fasttext skipgram on Debian manual pages and /usr/share/doc"
    gt.log(f"wordvecs: wrote '{a.output}': {len(train)} rows, {len(test)} queries, {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
