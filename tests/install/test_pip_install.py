"""`pip install .` (pyproject.toml) from this tree into a fresh virtual environment: the build
backend compiles the engine and the _ext module, and the installed package, its `statefold`
command and the chalk compatibility package work with nothing of the tree on the path. A full
C++ build, so slow: run by `make test-install`, not with tests/python.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_SECONDS = 3600  # the full build took 2.5-5 minutes on a shared 2-core machine


def tree_status() -> str:
    """Untracked and ignored paths of the tree (ignored folders as one line each)."""
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout


def cmake_project_version() -> str:
    match = re.search(r"project\(statefold\b[^)]*\bVERSION ([0-9.]+)\)",
                      (REPO / "CMakeLists.txt").read_text())
    assert match, "no project(statefold ... VERSION x.y.z) in CMakeLists.txt"
    return match.group(1)


def test_pip_install_builds_a_package_that_runs_the_reference_example(tmp_path):
    # The environment of a user's shell: nothing that points into this tree or its .venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    before = tree_status()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    log = tmp_path / "pip.log"
    with log.open("w") as out:
        pip = subprocess.run([str(python), "-m", "pip", "install", str(REPO)], cwd=tmp_path, env=env,
                             stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_SECONDS)
    assert pip.returncode == 0, f"pip install failed:\n{log.read_text()[-6000:]}"

    def run(*args, check=True):
        result = subprocess.run([str(a) for a in args], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
        if check:
            assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stderr}"
        return result

    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])")
                .stdout.strip())
    # The package with its compiled part, and the compat package behind a .pth line.
    assert len(list((site / "statefold").glob("_ext*.so"))) == 1
    assert (site / "statefold" / "libstatefold.so.0").is_file()
    assert not list((site / "statefold").glob("libstatefold.so.0.*")), "a second copy"
    assert (site / "statefold_compat" / "chalk" / "__init__.py").is_file()
    assert (site / "statefold_compat.pth").read_text().split() == ["statefold_compat"]
    # Only the package's install component: no C++ headers or CMake package in site-packages.
    assert not (site / "include").exists() and not (site / "lib").exists()
    version = run(python, "-c", "import importlib.metadata as m; print(m.version('statefold'))")
    assert version.stdout.strip() == cmake_project_version()

    imported = run(python, "-c", "import statefold, chalk, chalk.streams; "
                                 "print(statefold.__file__); print(chalk.__file__)")
    statefold_file, chalk_file = imported.stdout.split()
    assert Path(statefold_file) == site / "statefold" / "__init__.py"
    assert Path(chalk_file) == site / "statefold_compat" / "chalk" / "__init__.py"

    # The reference example (copied, so that its import writes no bytecode into the tree).
    defs = tmp_path / "defs.py"
    defs.write_text((REPO / "examples" / "login" / "defs.py").read_text())
    events = tmp_path / "logins.jsonl"
    events.write_text("".join(
        json.dumps({"key": user, "value": {"user_id": user, "ip_address": ip}, "timestamp": n}) + "\n"
        for n, (user, ip) in enumerate([("u1", "10.0.0.1"), ("u2", "10.0.0.7"), ("u1", "10.0.0.2"),
                                        ("u1", "10.0.0.1"), ("u1", "10.0.0.3")])))
    statefold = venv / "bin" / "statefold"
    done = run(statefold, "run", defs, "--input", events, "--state-dir", tmp_path / "state")
    assert done.stdout.startswith("done: 5 messages, 2 keys, 5 outputs, 0 dead letters in "), done.stdout
    got = run(statefold, "get", "user", "u1", "--state-dir", tmp_path / "state")
    assert json.loads(got.stdout) == {"user.id": "u1", "user.unique_ip_count": 3}

    # A real Chalk SDK, installed into site-packages, wins over the compat package.
    (site / "chalk").mkdir()
    (site / "chalk" / "__init__.py").write_text("REAL_CHALK = True\n")
    real = run(python, "-c", "import chalk; print(chalk.__file__, chalk.REAL_CHALK)")
    assert real.stdout.split() == [str(site / "chalk" / "__init__.py"), "True"]

    # Building wrote nothing into the tree.
    assert tree_status() == before
