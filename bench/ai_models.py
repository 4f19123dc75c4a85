"""The offline models of issue 9, measured on this machine: per candidate embedder, its load
time, memory and CPU cost per message; then the classifier (ai.local.IntentClassifier) on
CLINC150 against a TF-IDF + linear SVM baseline, trained on the full train split and on 10
examples per intent, with out-of-scope detection.

    .venv/bin/python bench/ai_models.py [--embedders minilm,e5-small,minilm+e5-small]
        [--seeds 5] [--cache DIR] [--data DIR]

Nothing here is tuned on the test split: the classifier's settings were chosen on CLINC's
val split and its out-of-scope threshold is calibrated inside fit() on held-out folds of the
training examples. The test split and test_oos are only scored.

Embedding the 23,700 CLINC messages is the slow part (one core per embedder; the base
embedders run side by side in child processes). `--cache DIR` keeps the vectors (keyed by
embedder and file contents) so a second run measures the classifiers only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HEARTH_AI_THREADS", "1")

import numpy as np  # noqa: E402

# ../shared beside the checkout (a worktree sits one level deeper).
DEFAULT_DATA = next(
    (p / "shared" / "data" / "intents-clinc150" for p in REPO.parents if (p / "shared" / "data" / "intents-clinc150").is_dir()),
    REPO.parent / "shared" / "data" / "intents-clinc150",
)
SPLITS = ("train", "val", "test", "train_oos", "val_oos", "test_oos")
OOS = "oos"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _read(data: Path, split: str) -> tuple[list[str], list[str]]:
    with open(data / f"{split}.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def probe(name: str, data: Path) -> dict:
    """Run in a child process, so that memory is this embedder's alone."""
    import onnxruntime  # noqa: F401  (imported before the baseline, as a worker would have it)

    from ai.local.embedders import embedder_get

    texts, _ = _read(data, "val")
    baseline = _rss_mb()
    started = time.perf_counter()
    embedder = embedder_get(name)
    embedder.encode(["warm up"])
    load_seconds = time.perf_counter() - started
    rss = _rss_mb()
    result = {"name": name, "model": embedder.model, "load_s": load_seconds, "rss_mb": rss, "rss_model_mb": rss - baseline}
    for batch, count in ((1, 150), (32, 640)):
        sample = texts[:count]
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(sample), batch):
            embedder.encode(sample[start : start + batch], batch_size=batch)
        result[f"cpu_ms_b{batch}"] = (time.process_time() - cpu) / len(sample) * 1000
        result[f"wall_ms_b{batch}"] = (time.perf_counter() - wall) / len(sample) * 1000
    result["tokens_mean"] = float(np.mean([embedder.count_tokens(t) for t in texts[:500]]))
    return result


def embed_all(name: str, data: Path, cache: Path) -> dict:
    """Vectors for every split, from the cache or computed here (child process)."""
    from ai.local.embedders import embedder_get

    timings = {}
    embedder = None
    for split in SPLITS:
        texts, _ = _read(data, split)
        key = hashlib.sha256((name + "\n" + "\n".join(texts)).encode()).hexdigest()[:16]
        path = cache / f"{name}-{split}-{key}.npy"
        if path.exists():
            continue
        embedder = embedder or embedder_get(name)
        cpu = time.process_time()
        vectors = embedder.encode(texts)
        timings[split] = (time.process_time() - cpu, len(texts))
        np.save(path, vectors)
    return timings


def vectors_load(name: str, data: Path, cache: Path, split: str) -> np.ndarray:
    parts = []
    for part in name.split("+"):
        texts, _ = _read(data, split)
        key = hashlib.sha256((part + "\n" + "\n".join(texts)).encode()).hexdigest()[:16]
        parts.append(np.load(cache / f"{part}-{split}-{key}.npy"))
    vectors = np.hstack(parts)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def few_shot_indices(labels: list[str], per_label: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    chosen = []
    for label in sorted(by_label):
        chosen += sorted(rng.choice(by_label[label], per_label, replace=False).tolist())
    return chosen


def scores(predicted: list[str | None], truth: list[str]) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = [p if p is not None else OOS for p in predicted]
    return accuracy_score(truth, predicted), f1_score(truth, predicted, average="macro", labels=sorted(set(truth)))


def oos_scores(in_scope_oos: list[bool], oos_oos: list[bool]) -> tuple[float, float, float]:
    """Recall and precision of "out of scope" on test + test_oos; share of in-scope kept."""
    true_positive = sum(oos_oos)
    flagged = true_positive + sum(in_scope_oos)
    recall = true_positive / len(oos_oos)
    precision = true_positive / flagged if flagged else 0.0
    return recall, precision, 1 - sum(in_scope_oos) / len(in_scope_oos)


def evaluate_embedder(name: str, data: Path, cache: Path, seeds: int, cpu_ms_per_message: float) -> list[dict]:
    from ai.local.classifier import IntentClassifier

    train_texts, train_labels = _read(data, "train")
    test_texts, test_labels = _read(data, "test")
    x_train = vectors_load(name, data, cache, "train")
    x_test = vectors_load(name, data, cache, "test")
    x_oos = vectors_load(name, data, cache, "test_oos")
    # CPU seconds to embed the training texts on one core, from the probe's batch-32 cost.
    embed_train_s = cpu_ms_per_message * len(train_texts) / 1000
    rows = []
    for setting, subsets in (("full", [list(range(len(train_texts)))]), ("10/intent", [few_shot_indices(train_labels, 10, s) for s in range(seeds)])):
        results = []
        for subset in subsets:
            classifier = IntentClassifier(embedder=name)
            started = time.perf_counter()
            classifier.fit([train_texts[i] for i in subset], [train_labels[i] for i in subset], vectors=x_train[subset])
            fit_s = time.perf_counter() - started
            in_scope = classifier.predict(test_texts, vectors=x_test, evidence=0)
            oos = classifier.predict([""] * len(x_oos), vectors=x_oos, evidence=0)
            accuracy, macro_f1 = scores([p.nearest_label for p in in_scope], test_labels)
            recall, precision, kept = oos_scores([p.out_of_scope for p in in_scope], [p.out_of_scope for p in oos])
            results.append((accuracy, macro_f1, recall, precision, kept, fit_s, classifier.threshold, len(classifier.to_bytes())))
        mean = np.mean(np.array(results), axis=0)
        spread = np.std(np.array(results)[:, 0])
        rows.append(
            {
                "model": f"{name} + logistic regression",
                "setting": setting if len(subsets) == 1 else f"{setting} ({len(subsets)} seeds)",
                "accuracy": mean[0],
                "accuracy_sd": spread,
                "macro_f1": mean[1],
                "oos_recall": mean[2],
                "oos_precision": mean[3],
                "in_scope_kept": mean[4],
                "fit_s": mean[5],
                "embed_train_s": embed_train_s * len(subsets[0]) / len(train_texts),
                "threshold": mean[6],
                "bytes": mean[7],
            }
        )
    return rows


def evaluate_baseline(data: Path, seeds: int) -> list[dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    train_texts, train_labels = _read(data, "train")
    test_texts, test_labels = _read(data, "test")
    rows = []
    for setting, subsets in (("full", [list(range(len(train_texts)))]), ("10/intent", [few_shot_indices(train_labels, 10, s) for s in range(seeds)])):
        results = []
        for subset in subsets:
            started = time.perf_counter()
            vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            model = LinearSVC().fit(vectoriser.fit_transform([train_texts[i] for i in subset]), [train_labels[i] for i in subset])
            fit_s = time.perf_counter() - started
            accuracy, macro_f1 = scores(list(model.predict(vectoriser.transform(test_texts))), test_labels)
            results.append((accuracy, macro_f1, fit_s))
        mean = np.mean(np.array(results), axis=0)
        rows.append(
            {
                "model": "TF-IDF (1-2 grams) + linear SVM",
                "setting": setting if len(subsets) == 1 else f"{setting} ({len(subsets)} seeds)",
                "accuracy": mean[0],
                "accuracy_sd": float(np.std(np.array(results)[:, 0])),
                "macro_f1": mean[1],
                "fit_s": mean[2],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="e5-small,minilm,minilm+e5-small")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None, help="keep the CLINC vectors here between runs")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--embed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.data)))
        return
    if args.embed:
        print(json.dumps(embed_all(args.embed, args.data, args.cache)))
        return

    import tempfile

    import onnxruntime
    import sklearn

    cache = args.cache or Path(tempfile.mkdtemp(prefix="hearth-ai-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    names = args.embedders.split(",")
    bases = sorted({part for name in names for part in name.split("+")})
    print(f"# ai_models on {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"onnxruntime {onnxruntime.__version__}, scikit-learn {sklearn.__version__}, one intra-op thread per embedder")
    print(f"# load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")

    print("## Embedders (each in a fresh process; CPU ms per message on one thread)\n")
    print("| embedder | model | load s | RSS after load MB | of which model MB | CPU ms/msg batch 1 | CPU ms/msg batch 32 | wall ms/msg batch 1 | tokens/msg |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    probes = {}
    for name in names:
        p = probes[name] = _child(["--probe", name, "--data", str(args.data)])
        print(f"| {name} | {p['model']} | {p['load_s']:.2f} | {p['rss_mb']:.0f} | {p['rss_model_mb']:.0f} | "
              f"{p['cpu_ms_b1']:.1f} | {p['cpu_ms_b32']:.1f} | {p['wall_ms_b1']:.1f} | {p['tokens_mean']:.1f} |", flush=True)

    started = time.perf_counter()
    children = {
        base: subprocess.Popen([sys.executable, __file__, "--embed", base, "--data", str(args.data), "--cache", str(cache)],
                               stdout=subprocess.PIPE, text=True)
        for base in bases
    }
    embed_cpu = {}
    for base, child in children.items():
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"embedding with {base} failed")
        embed_cpu[base] = json.loads(out.strip().splitlines()[-1])
    print(f"\nCLINC150 embedded in {time.perf_counter() - started:.0f} s wall "
          f"({', '.join(f'{b}: ' + (f'{sum(t for t, _ in v.values()):.0f} s CPU' if v else 'cached') for b, v in embed_cpu.items())})\n", flush=True)

    print("## Classifier on CLINC150 test (4,500 in-scope, 1,000 out-of-scope)\n")
    print("Accuracy and macro-F1: in-scope test, best category (out-of-scope rejection not applied). "
          "OOS recall/precision: 'out of scope' on test + test_oos with the threshold calibrated in fit() "
          "(95% of held-out in-scope training examples kept). Fit s: logistic regression and its "
          "calibration fold(s), wall. Embed train s: CPU on one core to embed those training texts "
          "(batch-32 cost above x count); the vectors can be stored with each example, so a "
          "retrain pays only the fit.\n")
    print("| model | training data | accuracy | macro-F1 | OOS recall | OOS precision | in-scope kept | fit s | embed train s (CPU) | model KB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in evaluate_baseline(args.data, args.seeds):
        print(f"| {row['model']} | {row['setting']} | {row['accuracy']:.4f} ± {row['accuracy_sd']:.4f} | {row['macro_f1']:.4f} | | | | {row['fit_s']:.1f} | | |", flush=True)
    for name in names:
        for row in evaluate_embedder(name, args.data, cache, args.seeds, probes[name]["cpu_ms_b32"]):
            embed = f"{row['embed_train_s']:.0f}"
            print(f"| {row['model']} | {row['setting']} | {row['accuracy']:.4f} ± {row['accuracy_sd']:.4f} | {row['macro_f1']:.4f} | "
                  f"{row['oos_recall']:.3f} | {row['oos_precision']:.3f} | {row['in_scope_kept']:.3f} | {row['fit_s']:.1f} | {embed} | {row['bytes'] / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()
