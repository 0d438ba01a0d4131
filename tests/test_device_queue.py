"""The GPU experiment queue (benchmarks/device/gpu_queue.py): which experiment runs next, the
card's tag, the chosen recipe carried into the commands, and the recipe sweep's arguments."""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "device"))

import gpu_queue as device_queue  # noqa: E402  (benchmarks/device/gpu_queue.py)
import recipe_sweep  # noqa: E402  (benchmarks/recipe_sweep.py)


def test_the_next_experiments_are_the_ones_without_a_committed_result(tmp_path):
    names = lambda: [e.name for e in device_queue.pending(tmp_path)]  # noqa: E731
    assert names() == ["sweep", "walk", "fasttd3", "stand", "run", "multitask", "g1"]
    (tmp_path / "recipe-sweep-HumanoidWalk-h200.json").write_text("{}")
    (tmp_path / "learning-HumanoidStand-h100-recipe-seeds.json").write_text("{}")
    (tmp_path / "recipe-sweep-HumanoidWalk-epyc-2core.json").write_text("{}")  # not a GPU's
    assert names() == ["walk", "fasttd3", "run", "multitask", "g1"]
    assert device_queue.pending(ROOT / "benchmarks" / "results")  # something is always queued


def test_card_tags():
    from fastbrc.run.machine import gpu_tag

    assert gpu_tag("NVIDIA H200") == "h200"
    assert gpu_tag("NVIDIA H100 80GB HBM3") == "h100"
    assert gpu_tag("NVIDIA A100-SXM4-80GB") == "a100"
    assert gpu_tag("cpu") == "cpu"  # the CPU rehearsal's tag


def test_commands_carry_the_newest_chosen_recipe(tmp_path):
    out, results = tmp_path / "out", tmp_path / "results"
    out.mkdir(), results.mkdir()
    args = argparse.Namespace(out=out, results_dir=results, small=False, fasttd3_src="ft")
    by_name = {e.name: e for e in device_queue.QUEUE}
    walk, fasttd3, multitask = by_name["walk"], by_name["fasttd3"], by_name["multitask"]
    preset = device_queue.command(walk, args, "h200", 400)
    assert "--num-envs" not in preset and preset[preset.index("--seeds") + 1] == "0,1"
    assert preset[preset.index("--max-wall-s") + 1] == "380"
    flags = ["--num-envs", "4096", "--batch-size", "8192", "--updates-per-iteration", "8",
             "--critic-width", "768", "--critic-depth", "2", "--critic-bf16"]  # fmt: skip
    (out / "recipe-sweep-HumanoidWalk-h200.json").write_text(json.dumps({"chosen_flags": flags}))
    walk_cmd = device_queue.command(walk, args, "h200", 400)
    assert walk_cmd[walk_cmd.index("--num-envs") : walk_cmd.index("--num-envs") + 11] == flags
    assert walk_cmd[-1] == str(out / "learning-HumanoidWalk-h200-recipe-seeds.json")
    peers = device_queue.command(fasttd3, args, "h200", 480)
    assert "--fastbrc-override=updates_per_iteration=8" in peers
    assert "--fastbrc-override=critic_bf16=true" in peers
    assert peers[peers.index("--budget-s") + 1] == "195"
    multi = device_queue.command(multitask, args, "h200", 480)
    assert multi[multi.index("--num-envs") + 1] == "12288" and "--seeds" not in multi


def test_recipe_sweep_arguments():
    args = recipe_sweep.parse_args(["--small"])
    assert args.num_envs == [8, 16] and args.bf16 == [False]
    gpu = recipe_sweep.parse_args([])
    assert gpu.num_envs == [1024, 4096, 8192] and gpu.bf16 == [False, True]
    assert (1024, 1) in gpu.critic and gpu.upi == [1, 2, 4, 8, 16]
    assert [r.name for r in gpu.requirement][0] == "50k-updates"
