"""The sim2sim video: frames of MuJoCo's own `MjData`, through `fastbrc render`'s renderer.

One frame after each reset and each policy step of the first `episodes` episodes, played at
real time (``fps = round(1 / control period)``); the mp4 is written under a hidden name and
renamed into place when complete (`fastbrc.run.render.Mp4`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastbrc.deploy.errors import DeployError


class VideoRecorder:
    """``start(model, fps)``, then ``frame(episode, data)`` per state, then ``close()``."""

    def __init__(
        self,
        path: str | Path,
        *,
        episodes: int = 1,
        height: int = 240,
        width: int = 320,
        camera: str | int | None = None,
        overwrite: bool = False,
    ):
        from fastbrc.run.render import RenderError, check_gl

        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise DeployError(f"the video path must end in .mp4, got {str(self.path)!r}")
        if self.path.exists() and not overwrite:
            raise DeployError(f"{self.path} exists; pass --overwrite to replace it")
        for label, size in (("height", height), ("width", width)):
            if size < 2 or size % 2:
                raise DeployError(f"{label} must be an even number >= 2 (H.264), got {size}")
        if episodes < 1:
            raise DeployError(f"--video-episodes must be >= 1, got {episodes}")
        try:
            check_gl()
        except RenderError as error:
            raise DeployError(f"{error} (or pass --no-video)") from None
        self.episodes, self.size, self.camera = episodes, (height, width), camera
        self.frames = 0
        self._renderer: Any = None
        self._mp4: Any = None

    def start(self, mj_model: Any, fps: int) -> None:
        from fastbrc.run.render import Mp4, Renderer, RenderError

        try:
            self._renderer = Renderer(mj_model, *self.size, self.camera)
            self._mp4 = Mp4(self.path, fps).__enter__()
        except RenderError as error:
            self.close(failed=True)
            raise DeployError(str(error)) from None

    def frame(self, episode: int, data: Any) -> None:
        if episode >= self.episodes or self._mp4 is None:
            return
        physics = (data.qpos, data.qvel, data.mocap_pos, data.mocap_quat, data.xfrc_applied)
        self._mp4.add(self._renderer.frame(physics))
        self.frames += 1

    def close(self, failed: bool = False) -> Path | None:
        """Finish the mp4 (removed when `failed`); its path, or None when none was written."""
        written = None
        if self._mp4 is not None:
            self._mp4.__exit__(RuntimeError if failed else None, None, None)
            written = None if failed else self.path
            self._mp4 = None
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        return written
