"""Placeholder G1 meshes (benchmarks/device/placeholder_meshes.py): physics does not see them.

The GPU device check measures G1JoystickFlatTerrain throughput offline with placeholder visual
meshes (no MuJoCo Menagerie there). That is only honest if the feet-only MJX model's physics
does not depend on its meshes; this compiles the model with two very different placeholder
shapes and finds masses, inertias, collision geoms and a 200-step rollout identical, while the
meshes themselves differ.
"""

import sys
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks" / "device"))

import placeholder_meshes as pm  # noqa: E402
from mujoco_playground._src import mjx_env  # noqa: E402
from mujoco_playground._src.locomotion.g1 import g1_constants  # noqa: E402


def g1_model(scale: float) -> mujoco.MjModel:
    assets: dict[str, bytes] = {}
    mjx_env.update_assets(assets, g1_constants.ROOT_PATH / "xmls", "*.xml")
    mjx_env.update_assets(assets, g1_constants.ROOT_PATH / "xmls" / "assets")
    for name in pm.g1_mesh_names():
        assets[name] = pm.tetrahedron_stl(scale)
    xml = g1_constants.FEET_ONLY_FLAT_TERRAIN_XML.read_text()
    return mujoco.MjModel.from_xml_string(xml, assets=assets)


def rollout(model: mujoco.MjModel, steps: int = 200) -> np.ndarray:
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    ctrl = np.random.default_rng(0).uniform(-1, 1, (steps, model.nu))
    lo, hi = model.actuator_ctrlrange.T
    for t in range(steps):
        data.ctrl[:] = lo + (ctrl[t] + 1) / 2 * (hi - lo)
        mujoco.mj_step(model, data)
    return np.concatenate([data.qpos, data.qvel])


def test_g1_physics_does_not_depend_on_its_visual_meshes():
    names = pm.g1_mesh_names()
    assert len(names) > 20 and all(name.lower().endswith(".stl") for name in names)
    small, large = g1_model(0.01), g1_model(0.3)
    assert not np.array_equal(small.mesh_vert, large.mesh_vert)  # the meshes do differ
    mesh_geoms = small.geom_type == mujoco.mjtGeom.mjGEOM_MESH
    assert mesh_geoms.any()
    assert not (small.geom_contype[mesh_geoms] | small.geom_conaffinity[mesh_geoms]).any()
    for field in ("body_mass", "body_inertia", "body_ipos", "body_iquat", "geom_size",
                  "geom_pos", "geom_contype", "geom_conaffinity", "dof_armature"):  # fmt: skip
        a, b = getattr(small, field), getattr(large, field)
        if field.startswith("geom_size") or field.startswith("geom_pos"):
            a, b = a[~mesh_geoms], b[~mesh_geoms]  # a visual mesh geom's own size may differ
        np.testing.assert_array_equal(a, b, err_msg=field)
    np.testing.assert_array_equal(rollout(small), rollout(large))


def test_written_placeholders_load_the_g1_task_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", tmp_path / "mujoco_menagerie")
    assert pm.write_placeholders(tmp_path / "mujoco_menagerie") == len(pm.g1_mesh_names())
    assert (tmp_path / "mujoco_menagerie" / pm.MARKER).exists()
    from fastbrc.envs import load_env

    env = load_env("G1JoystickFlatTerrain", impl="jax")
    assert env.action_size == 29 and env.mj_model.nmesh == len(pm.g1_mesh_names())
