"""Where cargo puts binaries: `cargo metadata`'s target_directory (CARGO_TARGET_DIR and
build.target-dir are honoured), never a hard-coded ./target."""
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target_dir() -> Path:
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["target_directory"])
