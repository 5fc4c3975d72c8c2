"""The WordNet data, the reconstruction metrics, and the demo end to end (--quick)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lorentz import wordnet
from lorentz.demo import main
from lorentz.demo.reconstruction import mean_rank_and_map

pytestmark = pytest.mark.slow


def test_mammal_closure_counts():
    names, edges = wordnet.load("mammals")
    assert (len(names), len(edges)) == (1180, 6540)  # Nickel & Kiela's mammal closure
    root = names.index("mammal.n.01")
    # every other noun is below mammal.n.01, which is below nothing
    assert set(edges[edges[:, 1] == root, 0]) == set(range(len(names))) - {root}
    assert root not in edges[:, 0]
    assert len({tuple(e) for e in edges.tolist()}) == len(edges)
    # closed: a hypernym's hypernyms are the noun's hypernyms
    up = {i: set() for i in range(len(names))}
    for a, b in edges.tolist():
        up[a].add(b)
    assert all(up[b] <= up[a] for a in up for b in up[a])
    assert "dog.n.01" in names and "canine.n.02" in {names[b] for b in up[names.index("dog.n.01")]}


def test_noun_closure_counts():
    names, edges = wordnet.load("nouns")
    assert (len(names), len(edges)) == (82115, 743086)
    assert names.count("entity.n.01") == 1


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="dataset"):
        wordnet.load("birds")


def brute_force(d, edges):
    """MR and MAP straight from their definitions, one noun and one hypernym at a time."""
    ranks, aps = [], []
    for u in np.unique(edges[:, 0]):
        hyper = set(edges[edges[:, 0] == u, 1].tolist())
        others = [w for w in range(len(d)) if w != u and w not in hyper]
        ranks += [1 + sum(d[u, w] < d[u, v] for w in others) for v in hyper]
        order = sorted((w for w in range(len(d)) if w != u), key=lambda w: d[u, w])
        hits = [i for i, w in enumerate(order) if w in hyper]
        aps.append(np.mean([(k + 1) / (i + 1) for k, i in enumerate(hits)]))
    return np.mean(ranks), np.mean(aps)


def test_reconstruction_metrics_match_their_definition():
    rng = np.random.default_rng(0)
    n = 30
    edges = np.array(sorted({tuple(rng.choice(n, 2, replace=False)) for _ in range(120)}))
    x = rng.standard_normal((n, 3))
    d = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    got = mean_rank_and_map(lambda rows: d[rows], edges, n, block=7)
    assert got == pytest.approx(brute_force(d, edges), rel=1e-12)
    # a perfect embedding: hypernyms nearest
    perfect = np.full((n, n), 5.0)
    perfect[edges[:, 0], edges[:, 1]] = 1.0
    assert mean_rank_and_map(lambda rows: perfect[rows], edges, n) == (1.0, 1.0)


def test_demo_quick_beats_euclidean(tmp_path):
    assert main(["--quick", "--dim", "2", "5", "--out", str(tmp_path), "--seed", "1"]) == 0
    report = json.loads((tmp_path / "mammals_metrics.json").read_text())
    by = {(r["geometry"], r["dim"]): r for r in report["results"]}
    for dim in (2, 5):
        lor, euc = by["lorentz", dim], by["euclidean", dim]
        assert lor["MAP"] > euc["MAP"] and lor["MR"] < euc["MR"], (lor, euc)
    assert report["published"][0]["MAP"] == 0.927
    png = (tmp_path / "mammals_2d.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_training_is_reproducible_by_seed():
    from lorentz.demo.embedding import Settings, train

    names, edges = wordnet.load("mammals")
    for sparse in (False, True):
        runs = [
            train(edges, len(names), "lorentz", Settings(dim=2, epochs=2, seed=s, sparse=sparse))
            for s in (3, 3, 4)
        ]
        a, b, c = (r.points.detach().numpy() for r in runs)
        assert np.array_equal(a, b) and not np.allclose(a, c)
        assert np.all(np.isfinite(a))


# ---------------------------------------------------------------- the command line


# ``python -m lorentz`` with SIGINT raising KeyboardInterrupt, as in a terminal: a shell that
# runs the tests in the background starts them with SIGINT ignored, which children inherit
# (preexec_fn could reset it, but is unsafe in a process with threads, as torch's)
CLI = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'lorentz'; runpy.run_module('lorentz', run_name='__main__', alter_sys=True)"
)


def demo_cli(*args, **popen):
    """``python -m lorentz demo`` in a fresh interpreter."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--epochs", "-1"], "argument --epochs: must be at least 1, got -1"),
        (["--epochs", "ten"], "argument --epochs: must be an integer, got 'ten'"),
        (["--dim", "0"], "argument --dim: must be at least 1, got 0"),
        (["--dim", "2", "-3"], "argument --dim: must be at least 1, got -3"),
        (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    ],
)
def test_bad_counts_are_refused_before_any_work(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*args, "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m lorentz demo") and message in err
    assert not (tmp_path / "out").exists()  # refused before the output folder was made


def test_bad_out_is_refused_before_any_work(tmp_path, capsys):
    file = tmp_path / "a-file"
    file.write_text("keep me\n")
    for out, message in (
        (file, "exists and is not a folder"),
        (file / "sub", "cannot write into .*: Not a directory"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["--out", str(out), "--dim", "2"])
        assert e.value.code == 2
        assert re.search(rf"error: argument --out: .*{message}", capsys.readouterr().err)
    assert file.read_text() == "keep me\n"


def test_bad_arguments_from_the_shell_exit_2_without_a_traceback(tmp_path):
    for args in (["--dim", "0"], ["--out", str(tmp_path / "f" / "sub")]):
        (tmp_path / "f").write_text("")
        proc = demo_cli(*args)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and "Traceback" not in err and "error: argument" in err, err


def test_epochs_given_are_trained_and_a_log_gets_one_line_per_job(tmp_path, capsys):
    """--epochs 1 trains one epoch (0 once meant the default 800); output that is not a
    terminal gets no progress bars, one line per finished job."""
    assert main(["--epochs", "1", "--dim", "2", "--workers", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "mammals_metrics.json").read_text())
    assert report["settings"]["epochs"] == 1
    out, err = capsys.readouterr()
    assert "1 epochs" in out
    jobs = [line for line in out.splitlines() if re.match(r"\s*(lorentz|euclidean) d=2 +MR", line)]
    assert len(jobs) == 2, out
    assert "\r" not in out + err and "it/s" not in err  # no bar drawn


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_parallel_jobs_in_a_log_do_not_interleave(tmp_path):
    proc = demo_cli("--epochs", "1", "--dim", "2", "3", "--workers", "2", "--out", str(tmp_path))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    jobs = [
        line for line in out.splitlines() if re.match(r"\s*(lorentz|euclidean) d=[23] +MR", line)
    ]
    assert len(jobs) == 4, out
    assert "\r" not in out + err and "it/s" not in err, err


def children(pid):
    """{pid: (state, command line)} of the processes whose parent is pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            with open(f"/proc/{entry}/cmdline") as f:
                cmd = f.read().replace("\0", " ")
        except OSError:  # ended meanwhile
            continue
        if int(ppid) == pid:
            found[int(entry)] = (state, cmd)
    return found


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None  # gone: reaped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("to", ["the process group", "the demo only"])
def test_ctrl_c_stops_the_workers_at_once(tmp_path, to):
    """SIGINT to the process group (Ctrl-C in a terminal) or to the demo alone (kill -INT):
    exit 130 within seconds, no traceback, the workers ended (not running the next queued
    training), nothing written."""
    proc = demo_cli(
        "--epochs",
        "1000",
        "--dim",
        "2",
        "5",
        "--workers",
        "2",
        "--out",
        str(tmp_path),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    workers = {}
    while len(workers) < 2:  # both spawned; their training may not have started yet
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        workers = {p: c for p, c in children(proc.pid).items() if "spawn_main" in c[1]}
        time.sleep(0.1)
    time.sleep(1.0)
    others = set(children(proc.pid)) - set(workers)  # multiprocessing's resource tracker
    if to == "the process group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    start = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert time.monotonic() - start < 10
    assert "Traceback" not in err and "interrupted" in err, err
    assert not re.search(r"MR +\d", out) and not list(tmp_path.iterdir())
    # the workers were reaped by the demo (gone); the tracker ends on its own once the demo
    # has (its zombie is then init's)
    assert all(state(p) is None for p in workers), {p: state(p) for p in workers}
    for _ in range(50):
        if all(state(p) in (None, "Z") for p in others):
            break
        time.sleep(0.1)
    assert all(state(p) in (None, "Z") for p in others), {p: state(p) for p in others}
