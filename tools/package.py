#!/usr/bin/env python3
"""`make package`: the five functions for arm64 as `sam build` builds them (cargo-lambda, its zig
cross-linker, the release profile), zipped as Lambda takes them, and their sizes printed."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cargo_target import target_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["dev-scheduler", "secret-rotator", "image-promoter", "restore-tester", "budget-guard"]
LIMIT_MB = 5.0


def main():
    installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True).stdout
    if "aarch64-unknown-linux-gnu" not in installed:
        subprocess.run(["rustup", "target", "add", "aarch64-unknown-linux-gnu"], check=True)
    out = target_dir() / "lambda"
    cmd = [str(ROOT / ".venv/bin/cargo-lambda"), "lambda", "build", "--release", "--arm64",
           "--output-format", "zip", "--lambda-dir", str(out)]
    for f in FUNCTIONS:
        cmd += ["--bin", f]
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"\n{'function':<16} {'bootstrap':>11} {'zip':>9}   (arm64, {out})")
    over = 0
    for f in FUNCTIONS:
        z = out / f / "bootstrap.zip"
        with zipfile.ZipFile(z) as zf:
            raw = sum(i.file_size for i in zf.infolist())
        mb = z.stat().st_size / 1e6
        over += mb > LIMIT_MB
        print(f"{f:<16} {raw / 1e6:>8.1f} MB {mb:>6.1f} MB{'   over ' + str(LIMIT_MB) + ' MB' if mb > LIMIT_MB else ''}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
