"""The `fastbrc` command line: `fastbrc train [--profile auto|gpu|cpu] [--any-config-field V]`.

The preset for ``--env`` and the hardware profile supplies every default; any field given on
the command line overrides it. Bad input exits with a one-line error, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

USAGE = """usage: fastbrc train [--env NAME] [--profile auto|gpu|cpu] [--CONFIG-FIELD VALUE ...]

commands:
  train    train an agent (see `fastbrc train --help` for every field)
"""


def _fail(message: str) -> int:
    print(f"fastbrc: error: {message}", file=sys.stderr)
    return 2


def train_main(argv: list[str]) -> int:
    import jax  # noqa: F401  (after argument checks: importing jax takes a while)
    import tyro

    from fastbrc.config import Config, ConfigError
    from fastbrc.envs import EnvLoadError
    from fastbrc.presets import describe, preset, resolve_profile
    from fastbrc.runner import train

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", default=Config.env)
    pre.add_argument("--profile", choices=("auto", "gpu", "cpu"), default="auto")
    known, rest = pre.parse_known_args(argv)
    profile = resolve_profile(known.profile, jax.default_backend())
    defaults = preset(known.env, profile)
    config = tyro.cli(
        Config,
        default=defaults,
        args=rest,
        prog="fastbrc train",
        description=(
            f"Train with the '{profile}' preset of {known.env}; flags override it. "
            "--profile auto|gpu|cpu picks the hardware profile (auto: cpu when JAX sees no "
            "accelerator)."
        ),
    )
    if known.profile == "auto" and profile == "cpu":
        print(
            "fastbrc: no accelerator found, using the CPU profile "
            f"({describe(defaults)}); pass --profile gpu for the full-size preset"
        )
    try:
        train(config)
    except (ConfigError, EnvLoadError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        return train_main(rest)
    return _fail(f"unknown command '{command}' (expected: train)")


if __name__ == "__main__":
    sys.exit(main())
