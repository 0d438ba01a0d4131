"""The wall-clock model of a recipe on a throughput profile (fastbrc.plan): interpolation
against hand computations, the iteration model, ranking, and one-line errors."""

import json

import pytest

from fastbrc.plan.profile import Critic, ProfileError, ThroughputProfile
from fastbrc.plan.recipe import Recipe, Requirement, candidates, choose, rank

BIG = Critic(1024, 2, False)
SMALL = Critic(512, 2, True)
PROFILE = ThroughputProfile(
    device="test GPU",
    env="HumanoidWalk",
    env_s={1024: 0.0145, 4096: 0.029, 8192: 0.058},
    update_s={BIG: {8192: 0.006, 32768: 0.0215}, SMALL: {8192: 0.002, 32768: 0.007}},
)


def test_profile_interpolates_log_log_and_refuses_what_it_did_not_measure():
    assert PROFILE.env_time(4096) == 0.029
    # halfway in log between 1024 and 4096 envs: the geometric mean of their times
    assert PROFILE.env_time(2048) == pytest.approx((0.0145 * 0.029) ** 0.5)
    assert PROFILE.update_time(16384, BIG) == pytest.approx((0.006 * 0.0215) ** 0.5)
    with pytest.raises(ProfileError, match=r"--num-envs 16384 is outside .*1024, 4096, 8192"):
        PROFILE.env_time(16384)
    with pytest.raises(ProfileError, match="width 768, depth 2, fp32"):
        PROFILE.update_time(8192, Critic(768, 2, False))


def test_iteration_time_is_the_env_step_plus_the_updates():
    recipe = Recipe(1024, 32768, 2, BIG)  # FastTD3's Playground recipe
    assert recipe.iteration_s(PROFILE) == pytest.approx(0.0145 + 2 * 0.0215)
    assert recipe.sigma == 2 / 1024
    # 1M env steps is the binding requirement: 977 iterations
    need = Requirement("test", env_steps=1_000_000, updates=1_000)
    assert recipe.seconds(PROFILE, need) == pytest.approx(977 * (0.0145 + 0.043))
    # 50k updates bind instead: 25,000 iterations
    need = Requirement("test", env_steps=1_000_000, updates=50_000)
    assert recipe.seconds(PROFILE, need) == pytest.approx(25_000 * (0.0145 + 0.043))


def test_ranking_follows_the_requirement():
    recipes = candidates(PROFILE, (1024, 4096), (8192, 32768), (2, 8))
    assert Recipe(1024, 8192, 8, SMALL) in recipes
    assert all(r.batch_size % r.num_envs == 0 for r in recipes)
    # many updates needed: small cheap updates at a high ratio win
    updates = rank(recipes, PROFILE, Requirement("updates", env_steps=1e5, updates=1e5))
    assert updates[0][0] == Recipe(1024, 8192, 8, SMALL)
    # many env steps needed: the most envs per second win
    steps = rank(recipes, PROFILE, Requirement("steps", env_steps=1e8, updates=10))
    assert steps[0][0].num_envs == 4096 and steps[0][0].updates_per_iteration == 2
    seconds = [s for _, s in steps]
    assert seconds == sorted(seconds)


def test_choose_reports_every_requirement_and_flags_the_trainer_accepts():
    recipes = candidates(PROFILE, (1024,), (8192,), (2, 8))
    out = choose(recipes, PROFILE, [Requirement("a", 1e5, 1e5), Requirement("b", 1e8, 10)])
    assert out["chosen"]["by"] == "a" and out["chosen"]["critic_bf16"] is True
    assert (
        out["chosen_flags"][:2] == ["--num-envs", "1024"] and "--critic-bf16" in out["chosen_flags"]
    )
    assert [row["rank"]["a"] for row in out["candidates"]] == list(range(1, len(recipes) + 1))
    json.dumps(out)  # plain JSON
    with pytest.raises(ProfileError, match="no candidate"):
        choose([], PROFILE, [Requirement("a", 1, 1)])


def test_a_profile_round_trips_through_the_sweep_json(tmp_path):
    path = tmp_path / "sweep.json"
    rows = PROFILE.to_rows()
    path.write_text(
        json.dumps({"machine": {"device_kind": "test GPU"}, "env": "HumanoidWalk", **rows})
    )
    assert ThroughputProfile.load(path) == PROFILE
    path.write_text(json.dumps({"env_rows": []}))
    with pytest.raises(ProfileError, match="is not a throughput profile"):
        ThroughputProfile.load(path)
