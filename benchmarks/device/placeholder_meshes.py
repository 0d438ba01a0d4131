"""Placeholder visual meshes for Playground's G1 when MuJoCo Menagerie is absent (offline).

    python benchmarks/device/placeholder_meshes.py      # writes them if Menagerie is missing

Playground's G1 models (``scene_mjx_feetonly_*.xml``) take their meshes from MuJoCo
Menagerie, which Playground fetches with ``git clone`` on first use: impossible on a machine
with no network (the lent GPU machine, CI). In those feet-only MJX models every mesh geom is
visual (``contype = conaffinity = 0``) and every body declares its inertia, so the physics
does not depend on the meshes: ``tests/test_placeholder_meshes.py`` checks that, by compiling
the model with two different placeholder shapes and finding the masses, inertias, collision
geoms and a rollout identical. This writes a small tetrahedron (binary STL) under every file
name the G1 XMLs name, plus ``PLACEHOLDER_MESHES.txt`` saying what they are. A real Menagerie
is never touched. Throughput measured on such a model is the real model's; pictures are not.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

ROBOT = "unitree_g1"
MARKER = "PLACEHOLDER_MESHES.txt"
_MESH_FILE = re.compile(r'<mesh\b[^>]*\bfile="[^"]*/' + ROBOT + r'/assets/([^"/]+)"')


def tetrahedron_stl(scale: float = 0.01) -> bytes:
    """A closed tetrahedron of edge ~`scale` metres as binary STL (MuJoCo's mesh loader)."""
    v = [(0.0, 0.0, 0.0), (scale, 0.0, 0.0), (0.0, scale, 0.0), (0.0, 0.0, scale)]
    faces = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
    out = bytearray(b"fastbrc placeholder mesh".ljust(80, b" "))
    out += struct.pack("<I", len(faces))
    for a, b, c in faces:
        out += struct.pack("<3f", 0.0, 0.0, 0.0)  # normal: MuJoCo recomputes it
        for index in (a, b, c):
            out += struct.pack("<3f", *v[index])
        out += struct.pack("<H", 0)
    return bytes(out)


def g1_mesh_names() -> list[str]:
    """File names of the Menagerie meshes Playground's G1 XMLs reference."""
    from mujoco_playground._src.locomotion.g1 import g1_constants

    names: set[str] = set()
    for xml in (Path(g1_constants.ROOT_PATH) / "xmls").glob("*.xml"):
        names.update(_MESH_FILE.findall(xml.read_text()))
    return sorted(names)


def write_placeholders(menagerie: Path, stl: bytes | None = None) -> int:
    """Write a placeholder under every G1 mesh name into `menagerie`; return how many."""
    assets = menagerie / ROBOT / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    names = g1_mesh_names()
    for name in names:
        (assets / name).write_bytes(stl or tetrahedron_stl())
    (menagerie / MARKER).write_text(
        "Placeholder visual meshes written by fastbrc's benchmarks/device/placeholder_meshes.py"
        " because MuJoCo Menagerie was absent. Physics is the real model's; pictures are not.\n"
    )
    return len(names)


def main() -> int:
    from mujoco_playground._src import mjx_env

    menagerie = Path(mjx_env.MENAGERIE_PATH)
    if (menagerie / ROBOT).exists() and not (menagerie / MARKER).exists():
        print(f"placeholder_meshes: MuJoCo Menagerie is present at {menagerie}; nothing written")
        return 0
    count = write_placeholders(menagerie)
    print(f"placeholder_meshes: wrote {count} placeholder G1 meshes under {menagerie}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
