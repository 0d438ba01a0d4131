"""Deployment: a trained policy out of the trainer (`fastbrc export`: ONNX or `jax.export`)
and into plain MuJoCo (`fastbrc sim2sim`: the C library's `mj_step`, no MJX).

Reads checkpoints through `fastbrc.run.policy` (networks and normaliser only), never the
trainer; imports every layer below it and is imported only by `fastbrc.cli`. Modules:
`signature` (the exported function), `metadata` (what a file says about itself),
`onnx_file` / `jax_file` (the two formats), `export`, `exported` (reading a file back),
`physics` (MuJoCo in place of MJX under a Playground task), `sim2sim`, `video`, `commands`.
"""
