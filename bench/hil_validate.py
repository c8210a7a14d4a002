"""How reproducible `edgesim hil validate` is: each README example run several times.

    .venv/bin/python bench/hil_validate.py [--repeats 5] [--only loopback crash] [--json FILE]

For every example a fresh agent (``--allow-faults --respawn``, TCP loopback) is started,
and ``edgesim hil validate scenarios/hil/loopback_<name>.yaml`` runs ``--repeats`` times
against it, as a user would run them one after another (the crash example's agent is
started again by its supervisor). Printed: per example how often the command exited 0,
and per row the range of its error over the runs and how often it was within
tolerance. These are the figures the README and docs/hil.md quote; the tolerance of the
noisy rows (a real stage's service, the transfer on loopback) is set from them. Timing
accuracy is measured here, never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "loopback": "scenarios/hil/loopback.yaml",
    "crash": "scenarios/hil/loopback_crash.yaml",
    "hang": "scenarios/hil/loopback_hang.yaml",
    "slow": "scenarios/hil/loopback_slow.yaml",
}


def agent(cache: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "hil.agent", "--listen", "127.0.0.1:0", "--allow-faults",
           "--respawn", "--cache", str(cache)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"


def validate(scenario: str, url: str, out: Path) -> tuple[int, list[dict[str, Any]]]:
    cmd = [sys.executable, "-m", "sim", "hil", "validate", scenario, "--bind", f"srv={url}",
           "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    report = out / "validation.json"
    rows = json.loads(report.read_text())["rows"] if report.exists() else []
    if done.returncode not in (0, 1):
        print(done.stderr.strip().splitlines()[-1:], file=sys.stderr)
    return done.returncode, rows


def spread(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per row: the errors over the runs (relative, or absolute in seconds) and passes."""
    table: dict[str, dict[str, Any]] = {}
    for rows in runs:
        for r in rows:
            entry = table.setdefault(r["metric"], {"metric": r["metric"], "errors": [],
                                                   "diffs": [], "within": 0, "runs": 0,
                                                   "tolerance": r["tolerance"],
                                                   "absolute": r.get("absolute", False)})  # fmt: skip
            entry["errors"].append(r["error"])
            entry["diffs"].append(r["predicted"] - r["measured"])
            entry["within"] += bool(r["within"])
            entry["runs"] += 1
    return list(table.values())


def show(name: str, codes: list[int], rows: list[dict[str, Any]]) -> None:
    print(f"\n{name}: exit 0 in {codes.count(0)}/{len(codes)} runs (codes {codes})")
    print(f"  {'metric':36} {'error, min .. max':>22} {'tolerance':>10} {'within':>7}")
    for r in rows:
        if r["absolute"]:
            lo, hi = min(r["diffs"]) * 1e3, max(r["diffs"]) * 1e3
            span, tol = f"{lo:+.1f} .. {hi:+.1f} ms", f"{r['tolerance'] * 1e3:.0f} ms"
        else:
            lo, hi = min(r["errors"]) * 100, max(r["errors"]) * 100
            span, tol = f"{lo:+.1f} .. {hi:+.1f} %", f"{r['tolerance'] * 100:.0f} %"
        print(f"  {r['metric']:36} {span:>22} {tol:>10} {r['within']:>3}/{r['runs']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=sorted(EXAMPLES), default=list(EXAMPLES))
    parser.add_argument("--json", type=Path, help="write every run's rows here")
    args = parser.parse_args()
    record: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hil-validate-") as tmp:
        for name in args.only:
            proc, url = agent(Path(tmp) / "cache")
            try:
                results = [
                    validate(EXAMPLES[name], url, Path(tmp) / f"{name}-{i}")
                    for i in range(args.repeats)
                ]
            finally:
                proc.terminate()
                proc.wait()
            codes = [code for code, _ in results]
            rows = spread([r for _, r in results])
            record[name] = {"codes": codes, "rows": rows}
            show(name, codes, rows)
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
