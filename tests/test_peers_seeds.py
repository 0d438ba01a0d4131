"""benchmarks/combine.py (benchmarks/harness/combine.py): several peers.py seeds judged
together, on hand-made reports."""

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import combine  # noqa: E402  (benchmarks/combine.py's body)

MACHINE = {"backend": "cpu", "cpu_model": "X", "usable_cpus": 2, "device_kind": "cpu"}
PROTOCOL = {"num_eval_envs": 16, "deterministic_policy": True, "episode_length": 1000,
            "action_repeat": 1}  # fmt: skip


def point(wall, steps, ret):
    return {"wall_s": wall, "env_steps": steps, "eval_return": ret}


def report(seed, trainers, budget_s=100.0, machine=MACHINE, **extra):
    body = {name: {"status": "ok", "curve": curve} for name, curve in trainers.items()}
    return {"benchmark": "peers", "env": "E", "budget_s": budget_s, "seed": seed,
            "machine": machine, "protocol": PROTOCOL, "trainers": body, **extra}  # fmt: skip


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def fast(r_at_40):  # a fastbrc curve reaching r_at_40 at 40 s
    return [point(20, 100, 1.0), point(40, 200, r_at_40), point(100, 500, r_at_40 + 1)]


def test_the_threshold_is_the_best_peer_run_and_every_fastbrc_seed_must_reach_it(tmp_path):
    files = [
        write(tmp_path, "s0.json", report(0, {
            "fastbrc": fast(9.0),
            "brax_sac": [point(10, 0, 0.0), point(60, 500, 6.0), point(100, 900, 7.0)],
            "fasttd3": [point(30, 50, 3.0)]})),
        write(tmp_path, "s1.json", report(1, {
            "fastbrc": fast(8.0),
            "brax_sac": [point(10, 0, 0.0), point(100, 900, 8.0)],
            "fasttd3": [point(30, 50, 2.0)]})),
        write(tmp_path, "s2.json", report(2, {"fastbrc": fast(8.5)})),
    ]  # fmt: skip
    out = combine.combine(files)
    s = out["summary"]
    assert s["threshold"] == 8.0 and "brax_sac seed 1" in s["threshold_source"]
    assert s["seeds"] == {"fastbrc": [0, 1, 2], "brax_sac": [0, 1], "fasttd3": [0, 1]}
    times = {(r["trainer"], r["seed"]): r["time_to_threshold_s"] for r in out["runs"]}
    assert times[("fastbrc", 0)] == 40 and times[("fastbrc", 1)] == 40
    assert times[("brax_sac", 0)] is None and times[("brax_sac", 1)] == 100
    assert s["target"]["met"] is True
    # one fastbrc seed short of the threshold at half the budget fails the target
    files[2] = write(tmp_path, "s2.json", report(2, {"fastbrc": fast(7.0)}))
    s = combine.combine(files)["summary"]
    assert s["target"]["met"] is False
    assert s["target"]["checks"]["every_fastbrc_run_within_half_budget"] is False
    # too few seeds, for fastbrc or a peer, fails it too; a fixed --threshold is used as given
    s = combine.combine(files[:2], threshold=8.0)["summary"]
    assert s["threshold_source"] == "--threshold"
    assert s["target"]["checks"]["fastbrc_seeds"] is False
    s = combine.combine([files[0], files[1] + ":fastbrc"], min_fastbrc_seeds=2)["summary"]
    assert s["target"]["checks"]["peer_seeds"] is False and s["seeds"]["brax_sac"] == [0]


def test_a_nan_evaluation_fails_the_target(tmp_path):
    curve = fast(9.0) + [point(110, 600, math.nan)]
    files = [write(tmp_path, f"s{i}.json", report(i, {"fastbrc": curve if i == 0 else fast(9.0),
                                                      "brax_sac": [point(50, 10, 5.0)]}))
             for i in range(3)]  # fmt: skip
    s = combine.combine(files, min_peer_seeds=3)["summary"]
    assert s["target"]["checks"] == {
        "every_fastbrc_run_within_half_budget": True,
        "fastbrc_seeds": True,
        "peer_seeds": True,
        "no_nan_fastbrc_eval": False,
    }


@pytest.mark.parametrize(
    "second, message",
    [
        (report(1, {"fastbrc": fast(1.0)}, budget_s=50.0), "budget_s"),
        (report(1, {"fastbrc": fast(1.0)}, machine={**MACHINE, "usable_cpus": 4}), "machine"),
        (report(0, {"fastbrc": fast(1.0)}), "appears in two inputs"),
        (report(1, {"fastbrc": fast(1.0)}, tiny=True), "--tiny"),
        ({"benchmark": "throughput"}, "not a benchmarks/peers.py report"),
    ],
)
def test_inputs_that_do_not_belong_together_are_one_line_and_exit_2(
    tmp_path, capsys, second, message
):
    first = write(tmp_path, "a.json", report(0, {"fastbrc": fast(1.0)}))
    code = combine.main([first, write(tmp_path, "b.json", second), "--out",
                             str(tmp_path / "o.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()
    code = combine.main([first + ":brax_ppo", "--out", str(tmp_path / "o.json")])
    assert code == 2 and "has no brax_ppo run" in capsys.readouterr().err


def test_writes_json_table_and_plot(tmp_path, capsys):
    files = [write(tmp_path, f"s{i}.json", report(i, {"fastbrc": fast(9.0),
                                                      "brax_sac": [point(50, 10, 5.0)]}))
             for i in range(3)]  # fmt: skip
    out = tmp_path / "combined.json"
    assert combine.main([*files, "--out", str(out), "--min-peer-seeds", "3"]) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["target"]["met"] is True and len(data["runs"]) == 6
    assert [i["file"] for i in data["inputs"]] == ["s0.json", "s1.json", "s2.json"]
    assert out.with_suffix(".png").stat().st_size > 0
    table = capsys.readouterr().out
    assert table.count("\n| fastbrc |") == 3 and "target: met" in table


def test_a_brax_agent_at_two_sizes_is_two_peers_each_with_its_seeds(tmp_path, capsys):
    def brax(seed, scale, final):
        data = report(seed, {"brax_sac": [point(10, 0, 0.0), point(100, 900, final)]})
        data["trainers"]["brax_sac"]["sizes"] = {"scale": scale, "num_envs": 128 // scale}
        return data

    files = [write(tmp_path, f"f{i}.json", report(i, {"fastbrc": fast(9.0)})) for i in range(3)]
    files += [
        write(tmp_path, "p0.json", brax(0, 1, 5.0)),
        write(tmp_path, "p1.json", brax(1, 1, 6.0)),
        write(tmp_path, "q0.json", brax(0, 16, 8.0)),  # seed 0 again, at another size
    ]
    s = combine.combine(files)["summary"]
    assert s["seeds"] == {
        "fastbrc": [0, 1, 2],
        "brax_sac (published size)": [0, 1],
        "brax_sac (1/16 size)": [0],
    }
    assert s["threshold"] == 8.0
    assert s["threshold_source"] == "final_return of brax_sac (1/16 size) seed 0 (best peer run)"
    assert s["target"]["checks"]["peer_seeds"] is False  # the 1/16 size has one seed
    files.append(write(tmp_path, "q1.json", brax(1, 16, 4.0)))
    assert combine.combine(files)["summary"]["target"]["met"] is True
    # the same size and seed twice is still refused
    files.append(write(tmp_path, "q1b.json", brax(1, 16, 4.0)))
    out = str(tmp_path / "o.json")
    assert combine.main([*files, "--out", out]) == 2
    assert "brax_sac (1/16 size) seed 1 appears in two inputs" in capsys.readouterr().err
