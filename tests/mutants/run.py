#!/usr/bin/env python3
"""`make mutants`: proves that each safety guard has a test that notices
when it is gone. For every mutant in mutants.py it edits a private copy of
the tree, rebuilds, runs the mutant's tests and expects them to FAIL; a
mutant whose tests still pass has survived, and the run fails.

Usage: run.py [-k SUBSTRING] [-j JOBS]
  -k: only mutants whose name contains SUBSTRING; -j: mutants at a time,
  each in its own copy of the tree (default 1)
Must never: touch the working tree (everything happens in a copy under
/tmp, removed at the end).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from mutants import MUTANTS  # noqa: E402

PYTHON = "/usr/bin/python3"


def copy_tree(dest):
    def ignore(d, names):
        return [n for n in names if n == ".git" or n.startswith("build") or n == "__pycache__"
                or n == "var"]
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)


def build(tree):
    r = subprocess.run(["ninja", "-C", os.path.join(tree, "build-mut")], capture_output=True,
                       text=True)
    return r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def run_tests(tree, tests):
    """True when every test passed."""
    env = dict(os.environ, POSTERN_BIN=os.path.join(tree, "build-mut", "postern"))
    unit = [t[5:] for t in tests if t.startswith("unit:")]
    e2e = [os.path.join(tree, "tests", "e2e", t) for t in tests if not t.startswith("unit:")]
    ok = True
    for name in unit:
        r = subprocess.run([os.path.join(tree, "build-mut", "tests", "unit", name)],
                           capture_output=True, text=True, timeout=300)
        ok = ok and r.returncode == 0
    if e2e:
        r = subprocess.run([PYTHON, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *e2e],
                           capture_output=True, text=True, env=env, timeout=900,
                           cwd=os.path.join(tree, "tests", "e2e"))
        ok = ok and r.returncode == 0
    return ok


def try_mutant(tree, mutant):
    """Applies one mutant in tree, rebuilds, runs its tests, restores the
    file. Returns "killed", "SURVIVED", "STALE" or "NOBUILD", and a note."""
    name, path, find, repl, tests = mutant
    src = os.path.join(tree, path)
    with open(src) as f:
        original = f.read()
    if original.count(find) != 1:
        return "STALE", f"the text to mutate is in {path} {original.count(find)} times, not once"
    with open(src, "w") as f:
        f.write(original.replace(find, repl))
    try:
        ok, log = build(tree)
        if not ok:
            return "NOBUILD", log
        return ("SURVIVED" if run_tests(tree, tests) else "killed"), ""
    finally:
        with open(src, "w") as f:
            f.write(original)


def main():
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    jobs = int(sys.argv[sys.argv.index("-j") + 1]) if "-j" in sys.argv else 1
    chosen = [m for m in MUTANTS if only is None or only in m[0]]
    tmp = tempfile.mkdtemp(prefix="postern-mutants-", dir="/tmp")
    os.chmod(tmp, 0o755)  # the service user must reach test instances below it
    trees = [os.path.join(tmp, f"tree{i}") for i in range(max(1, min(jobs, len(chosen))))]
    results = {}
    lock = threading.Lock()
    try:
        for tree in trees:
            copy_tree(tree)
            # with the test hook, so the sandbox's test can run
            subprocess.run(["meson", "setup", "-Dtest_hooks=true", os.path.join(tree, "build-mut")],
                           cwd=tree, check=True, capture_output=True)
            ok, log = build(tree)
            if not ok:
                print(log)
                return 2
        # every mutant's tests must pass on the unmutated build first
        every = sorted({t for m in chosen for t in m[4]})
        if not run_tests(trees[0], every):
            print(f"BASELINE FAILS: without any mutation, some of these fail: {every}")
            return 2
        print(f"baseline: {len(every)} test selections pass unmutated", flush=True)

        def worker(tree, mine):
            for mutant in mine:
                start = time.monotonic()
                verdict, note = try_mutant(tree, mutant)
                with lock:
                    results[mutant[0]] = verdict
                    print(f"{verdict:8} {mutant[0]} ({time.monotonic() - start:.0f} s)"
                          + (f"\n{note}" if note else ""), flush=True)

        threads = [threading.Thread(target=worker, args=(tree, chosen[i::len(trees)]))
                   for i, tree in enumerate(trees)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    killed = sum(v == "killed" for v in results.values())
    print(f"{len(chosen)} mutants: {killed} killed, "
          f"{sum(v == 'SURVIVED' for v in results.values())} survived, "
          f"{len(chosen) - len(results) + sum(v in ('STALE', 'NOBUILD') for v in results.values())}"
          " stale or not building")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
