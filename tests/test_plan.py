"""`fastbrc plan`: the scaling-law fits recover known exponents, a killed sweep goes on where
it stopped, a real grid point trains to its threshold, and every bad input is one line."""

import dataclasses
import json

import numpy as np
import pytest

from fastbrc import cli
from fastbrc.plan.fit import fit_sweep
from fastbrc.plan.laws import DataLaw, FitError, fit_data_law, fit_loglog
from fastbrc.plan.profile import Critic, ThroughputProfile
from fastbrc.plan.recommend import plans, recommend
from fastbrc.plan.sweep import SweepSpec, point_name, run_point, run_sweep

TRUE = DataLaw(alpha=0.8, beta=40_000.0, d_min=20_000.0)
SIGMAS = (0.25, 0.5, 1.0, 2.0)
BATCHES = (64, 128, 256)
LRS = (3e-4, 1e-3)


def test_the_data_law_recovers_known_exponents():
    sigma = np.array(SIGMAS)
    fitted = fit_data_law(sigma, TRUE(sigma))
    assert fitted.alpha == pytest.approx(0.8, rel=1e-3)
    assert fitted.beta == pytest.approx(40_000, rel=1e-3)
    assert fitted.d_min == pytest.approx(20_000, rel=1e-3)
    # with 3% noise on 3 seeds per sigma, the law still predicts within 10%
    rng = np.random.default_rng(0)
    many = np.repeat(sigma, 3)
    noisy = fit_data_law(many, TRUE(many) * np.exp(rng.normal(0, 0.03, many.size)))
    assert np.allclose(noisy(sigma), TRUE(sigma), rtol=0.1)
    line = fit_loglog(sigma, 300 * sigma**-0.3)
    assert (line.scale, line.slope) == (pytest.approx(300), pytest.approx(-0.3))
    with pytest.raises(FitError, match="3 or more sigmas"):
        fit_data_law([1.0, 2.0], [10.0, 5.0])
    with pytest.raises(FitError, match="does not fall with sigma"):
        fit_data_law([0.25, 0.5, 1.0, 2.0], [34_910.0, 28_649.0, 37_579.0, 34_481.0])


def synthetic_sweep(sigmas=SIGMAS, seeds=(0, 1, 2)):
    """A sweep whose best batch is 256 sigma^-0.5 (nearest grid value), best lr 1e-3 at
    sigma < 1 and 3e-4 above, and data TRUE(sigma) at the best point, 1.5x elsewhere."""
    spec = SweepSpec("CheetahRun", 400.0, sigmas, BATCHES, LRS, seeds, num_envs=16)
    points = []
    for point in spec.points():
        s, b, lr = point["sigma"], point["batch_size"], point["lr"]
        best_b = min(BATCHES, key=lambda x: abs(np.log(x) - np.log(256 * s**-0.5)))
        best_lr = 1e-3 if s < 1 else 3e-4
        data = TRUE(s) * (1.0 if (b, lr) == (best_b, best_lr) else 1.5)
        runs = [{"seed": k, "reached": True, "env_steps": data * (1 + 0.01 * k)} for k in seeds]
        points.append({**point, "status": "done", "runs": runs})
    return {"benchmark": "plan_sweep", "spec": dataclasses.asdict(spec), "points": points}


def test_fit_finds_the_best_points_and_their_laws(tmp_path):
    fitted = fit_sweep(synthetic_sweep(), bootstraps=20)
    best = fitted["best"]
    assert [best[k]["batch_size"] for k in ("0.25", "0.5", "1", "2")] == [256, 256, 256, 128]
    assert fitted["data_law"]["alpha"] == pytest.approx(0.8, rel=0.05)
    assert fitted["lr_law"]["slope"] < 0 and fitted["batch_law"]["slope"] < 0
    assert fitted["bootstraps"] == 20 and "alpha" in fitted["intervals"]
    held = fit_sweep(synthetic_sweep(sigmas=(0.25, 0.5, 1.0, 2.0, 4.0)), hold_out=1.0, bootstraps=5)
    assert held["held_out_sigma"] == 1.0 and "1" not in held["best"]
    with pytest.raises(FitError, match="too few points to fit"):
        fit_sweep(synthetic_sweep(sigmas=(0.5, 1.0)))
    one_lr = synthetic_sweep()  # a grid of one learning rate: its law is fixed, not fitted
    one_lr["points"] = [
        {**p, "lr": 1e-3} for p in one_lr["points"] if p["lr"] == (1e-3 if p["sigma"] < 1 else 3e-4)
    ]
    fixed = fit_sweep(one_lr, bootstraps=20)
    assert fixed["fixed"] == ["lr"] and fitted["fixed"] == []
    assert fixed["lr_law"] == {"scale": pytest.approx(1e-3), "slope": pytest.approx(0.0)}
    assert "lr_slope" not in fixed["intervals"] and "batch_slope" in fixed["intervals"]


def test_a_killed_sweep_goes_on_where_it_stopped(tmp_path):
    spec = SweepSpec("CheetahRun", 400.0, (0.5, 1.0), (64,), (1e-3,), (0, 1), num_envs=16)
    out, ran = tmp_path / "sweep.json", []

    def runner(spec, point, run_root):
        if len(ran) == 1 and not out.exists():
            raise AssertionError("the first point must be saved before the next starts")
        ran.append(point_name(point))
        if len(ran) == 2:
            raise KeyboardInterrupt  # killed during the second point
        return {**point, "status": "done", "runs": []}

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, tmp_path, {}, say=lambda _: None, runner=runner)
    assert [point_name(p) for p in json.loads(out.read_text())["points"]] == [ran[0]]
    run_sweep(spec, out, tmp_path, {}, say=lambda _: None, runner=runner)
    assert ran == ["sigma0.5-batch64-lr0.001", "sigma1-batch64-lr0.001", "sigma1-batch64-lr0.001"]
    assert len(json.loads(out.read_text())["points"]) == 2
    other = dataclasses.replace(spec, task="WalkerWalk")
    with pytest.raises(Exception, match="another task or run settings"):
        run_sweep(other, out, tmp_path, {}, say=lambda _: None, runner=runner)
    # another grid goes on with the points it shares; the rest are kept outside the grid
    wider = dataclasses.replace(spec, sigmas=(1.0, 2.0))
    run_sweep(wider, out, tmp_path, {}, say=lambda _: None, runner=runner)
    assert ran[3:] == ["sigma2-batch64-lr0.001"]
    data = json.loads(out.read_text())
    assert [point_name(p) for p in data["points"]] == ["sigma1-batch64-lr0.001", ran[3]]
    assert [point_name(p) for p in data["outside_grid"]] == ["sigma0.5-batch64-lr0.001"]
    assert data["spec"]["sigmas"] == [1.0, 2.0]


@pytest.mark.slow
def test_a_grid_point_trains_its_seeds_to_the_threshold(tmp_path):
    """One real point through `fastbrc train` (ProbeBandit: return 1 is optimal)."""
    spec = SweepSpec("ProbeBandit", 0.5, (0.5,), (16,), (1e-3,), (0, 1), num_envs=4,
                     cap_env_steps=4000, eval_every_env_steps=200)  # fmt: skip
    result = run_point(spec, spec.points()[0], tmp_path)
    assert result["status"] == "done", result
    assert result["updates_per_iteration"] == 2
    for run in result["runs"]:
        assert run["reached"] and 0 < run["env_steps"] < 4000 and run["train_s"] > 0


PROFILE = ThroughputProfile("cpu", "CheetahRun", {16: 0.005},
                            {Critic(64, 2, False): {64: 0.002, 256: 0.004}})  # fmt: skip
FIT = {"task": "CheetahRun", "threshold": 400.0, "num_envs": 16, "sigma_range": [0.25, 2.0],
       "data_law": dataclasses.asdict(TRUE), "batch_law": {"scale": 256.0, "slope": -0.5},
       "lr_law": {"scale": 5e-4, "slope": -0.3}, "flops_per_sample": 1e6,
       "critic": {"width": 64, "depth": 2, "bf16": False}, "batch_range": [64, 256]}  # fmt: skip


def test_recommend_picks_the_fastest_recipe_that_meets_the_budget():
    candidates = plans(FIT, (64, 256), 1e6, PROFILE, Critic(64, 2, False))
    assert [p.updates_per_iteration for p in candidates] == list(range(4, 33))
    fastest = min(candidates, key=lambda p: p.seconds)
    assert recommend(candidates, "seconds", 1e9) == fastest
    # t = D (t_env / 16 + sigma t_update(B*)) by hand at sigma 1 (batch 256)
    one = next(p for p in candidates if p.sigma == 1.0)
    assert one.batch_size == 256 and one.seconds == pytest.approx(TRUE(1.0) * (0.005 / 16 + 0.004))
    # a data budget: the least data needs the highest sigma
    assert recommend(candidates, "env_steps", TRUE(2.0) + 1).sigma == 2.0
    with pytest.raises(Exception, match=r"no recipe in the fitted range \(sigma 0.25-2\)"):
        recommend(candidates, "seconds", 1.0)


def one_line(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err


def test_bad_plan_input_is_one_line(tmp_path, capsys):
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(FIT))
    profile = tmp_path / "profile.json"
    rows = dataclasses.replace(PROFILE, env="WalkerWalk").to_rows()
    profile.write_text(json.dumps({"machine": {"device_kind": "cpu"}, "env": "WalkerWalk", **rows}))
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps(synthetic_sweep(sigmas=(0.5, 1.0))))
    cases = [
        (["fit", str(sweep)], ["too few points to fit"]),
        (["fit", str(fit)], ["is not a sweep JSON"]),
        (["recommend", str(fit), "--budget-seconds", "60"], ["needs a throughput profile"]),
        (["recommend", str(fit), "--budget-seconds", "60", "--profile", str(profile)],
         ["profiles WalkerWalk, but the fit is of CheetahRun"]),
        (["recommend", str(fit), "--budget-env-steps", "10"], ["no recipe in the fitted range"]),
        (["recommend", str(sweep), "--budget-flops", "1e12"], ["is not a fit JSON"]),
        (["sweep", "--env", "CheetahRun", "--threshold", "400", "--sigmas", "0.3"],
         ["4.8 updates per iteration"]),
        (["fly"], ["unknown plan command 'fly'"]),
    ]  # fmt: skip
    for args, fragments in cases:
        one_line(capsys, cli.main(["plan", *args]), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json", "profile.json", "sweep.json"]
