"""Build the Docker image and train in it on the CPU, with podman (no Docker engine needed).

    python3 benchmarks/docker_check.py             # = make docker-check
    python3 benchmarks/docker_check.py --no-cache  # a clean build (layers rebuilt)

1. a Debian bookworm base with mmdebstrap from Debian's mirror (``.docker/bookworm.tar``, made
   once), imported into podman as ``localhost/fastbrc-base:bookworm``: the Dockerfile's default
   base, NVIDIA's CUDA image, comes from a container registry this check does not need;
2. ``podman build --build-arg BASE=localhost/fastbrc-base:bookworm`` of the repository's
   Dockerfile (``--build-arg EXTRA``, default cuda12, as the GPU image; MENAGERIE=0: the
   Menagerie step fetches from GitHub), timed, and the image's size;
3. ``fastbrc train --env CartpoleBalance`` in the image, as its non-root user (uid 1000), with a
   host directory mounted on ``/work/runs``: the run must write its config, metrics and a
   checkpoint there, owned by uid 1000;
4. the image's documented ``--entrypoint bash ... /opt/fastbrc/benchmarks/gpu.sh`` must reach the
   script (which, without a GPU, stops with its one line, exit status 2).

Prints what it runs and one summary, and writes the numbers to
``benchmarks/results/docker-check-<host>.json`` (``--out``). Needs root (rootful podman), and
Debian's podman, buildah, mmdebstrap and runc. Where the kernel's cgroups are a v1/v2 hybrid,
crun refuses to start a container ("cgroups in hybrid mode not supported"), so runc runs them;
podman raises a container's open-file and process limits by default, which a sandbox without
CAP_SYS_RESOURCE refuses ("setrlimit RLIMIT_NOFILE: Operation not permitted"), so the limits
are set at or below this process's. ``--format docker`` keeps the Dockerfile's SHELL.
Exit status 0 when every check passed, 1 with the failed check's line, 2 for a missing tool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_TAR = ROOT / ".docker" / "bookworm.tar"
BASE_IMAGE = "localhost/fastbrc-base:bookworm"
IMAGE = "localhost/fastbrc:check"
MIRROR = "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
UID = 1000


class CheckFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"docker-check: {text}", flush=True)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    say("$ " + " ".join(command))
    return subprocess.run(command, text=True, check=False, **kwargs)


def limits() -> list[str]:
    """Container limits no higher than this process's (podman's defaults raise them)."""
    out = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(which)
        value = min(x for x in (soft, hard, 4096) if x != resource.RLIM_INFINITY)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return out


def runtime() -> list[str]:
    return ["--runtime", "runc"] if shutil.which("runc") else []


def make_base(rebuild: bool) -> float | None:
    """The bookworm base in podman; seconds spent making it, None when it was there."""
    have = run(["podman", "image", "exists", BASE_IMAGE]).returncode == 0
    if have and not rebuild:
        return None
    start = time.monotonic()
    if rebuild or not BASE_TAR.exists():
        BASE_TAR.parent.mkdir(exist_ok=True)
        (BASE_TAR.parent / ".gitignore").write_text("*\n")
        done = run(
            ["mmdebstrap", "--variant=minbase", "--quiet", "bookworm", str(BASE_TAR), MIRROR]
        )
        if done.returncode != 0:
            raise CheckFailed("mmdebstrap could not make the Debian base (see above)")
    if run(["podman", "import", str(BASE_TAR), BASE_IMAGE], stdout=subprocess.DEVNULL).returncode:
        raise CheckFailed(f"podman import {BASE_TAR} failed")
    return time.monotonic() - start


def build(extra: str, no_cache: bool) -> float:
    command = ["podman", "build", "--format", "docker", *runtime(), *limits(),
               "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", f"EXTRA={extra}",
               "--build-arg", "MENAGERIE=0", "-t", IMAGE]  # fmt: skip
    if CA_BUNDLE.exists():  # a TLS-intercepting proxy's CA, if this machine has one
        command += ["--secret", f"id=cacert,src={CA_BUNDLE}"]
    command += ["--no-cache"] if no_cache else []
    start = time.monotonic()
    if run([*command, str(ROOT)]).returncode != 0:
        raise CheckFailed("podman build failed (see above)")
    return time.monotonic() - start


def in_image(args: list[str], mounts: list[str] = (), entrypoint: str | None = None):
    command = ["podman", "run", "--rm", *runtime(), *limits()]
    for mount in mounts:
        command += ["-v", mount]
    command += ["--entrypoint", entrypoint] if entrypoint else []
    return run([*command, IMAGE, *args], capture_output=True)


def train_in_image(steps: int, host_runs: Path) -> dict:
    host_runs.mkdir(parents=True)
    os.chown(host_runs, UID, UID)  # a host directory of the user the image runs as
    args = ["train", "--env", "CartpoleBalance", "--run-dir", "runs/cartpole",
            "--total-env-steps", str(steps)]  # fmt: skip
    start = time.monotonic()
    done = in_image(args, mounts=[f"{host_runs}:/work/runs"])
    seconds = time.monotonic() - start
    print(done.stdout[-3000:] + done.stderr[-3000:], flush=True)
    if done.returncode != 0:
        raise CheckFailed(f"fastbrc train in the image exited {done.returncode}")
    run_dir = host_runs / "cartpole"
    wanted = [run_dir / "config.json", run_dir / "metrics.jsonl", run_dir / "checkpoints"]
    missing = [str(p) for p in wanted if not p.exists()]
    if missing:
        raise CheckFailed(f"the run did not write {', '.join(missing)}")
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [run_dir, *run_dir.rglob("*")]}
    if owners != {(UID, UID)}:
        raise CheckFailed(f"the run's files are owned by {sorted(owners)}, not uid/gid {UID}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval/episode_return"] for r in records if r.get("eval/episode_return") is not None]
    return {
        "command": "podman run ... " + " ".join(args),
        "seconds": round(seconds, 1),
        "env_steps": records[-1]["env_steps"],
        "eval_returns": [round(x, 1) for x in evals],
        "checkpoints": sorted(p.name for p in (run_dir / "checkpoints").iterdir()),
        "files_owned_by": f"{UID}:{UID}",
        "stdout_tail": done.stdout.splitlines()[-6:],
        # JAX's CUDA plugin finding no GPU logs a traceback, then JAX runs on the CPU
        "stderr_lines": len(done.stderr.splitlines()),
        "stderr_last": (done.stderr.strip().splitlines() or [""])[-1][:300],
    }


def check_gpu_script() -> str:
    done = in_image(["/opt/fastbrc/benchmarks/gpu.sh"], entrypoint="bash")
    lines = (done.stderr.strip().splitlines() or ["no output"])[-1]
    if done.returncode != 2 or "JAX sees no GPU" not in lines:
        raise CheckFailed(f"gpu.sh in the image: exit {done.returncode}, {lines}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", default="cuda12", help="the jax extra (cuda12, cuda13, none)")
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    parser.add_argument("--rebuild-base", action="store_true", help="mmdebstrap the base again")
    parser.add_argument("--steps", type=int, default=36_000, help="env steps of the training run")
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        why = f"no {', '.join(missing)} on PATH" if missing else "needs root (rootful podman)"
        print(
            f"docker-check: {why}; apt-get install podman buildah mmdebstrap runc", file=sys.stderr
        )
        return 2
    extra = "" if args.extra == "none" else args.extra
    result: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "podman": subprocess.run(
            ["podman", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "git_commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),  # fmt: skip
        "base": BASE_IMAGE,
        "extra": extra or None,
        "no_cache": args.no_cache,
    }
    try:
        base_s = make_base(args.rebuild_base)
        result["base_seconds"] = None if base_s is None else round(base_s, 1)
        result["build_seconds"] = round(build(extra, args.no_cache), 1)
        size = run(
            ["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE], capture_output=True
        )
        result["image_bytes"] = int(size.stdout.strip())
        probe = in_image(["-c", "import sys, jax; print(sys.version.split()[0], jax.__version__)"],
                         entrypoint="python")  # fmt: skip
        result["python_jax"] = probe.stdout.strip()
        with tempfile.TemporaryDirectory(prefix="fastbrc-docker-check-") as scratch:
            result["train"] = train_in_image(args.steps, Path(scratch) / "runs")
        result["gpu_sh"] = check_gpu_script()
    except CheckFailed as error:
        print(f"docker-check: FAILED: {error}", file=sys.stderr)
        return 1
    out = args.out or ROOT / "benchmarks" / "results" / f"docker-check-{platform.node()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    train = result["train"]
    say(
        f"passed: image {result['image_bytes'] / 1e9:.2f} GB built in "
        f"{result['build_seconds']:.0f} s"
        + (f" (+ {result['base_seconds']:.0f} s for the base)" if result["base_seconds"] else "")
        + f"; python/jax {result['python_jax']}; CartpoleBalance as uid {UID}: "
        f"{train['env_steps']:,} env steps in {train['seconds']:.0f} s, eval returns "
        f"{train['eval_returns']}; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
