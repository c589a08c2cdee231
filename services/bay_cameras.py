"""One thread per bay camera: frames → ``BayMonitor`` → camera readings for the board.

Only started when ``parking.cameras`` is configured. A camera that drops out is reopened with
back-off; a corrupt or wrong-size frame is skipped, never fatal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from controllers.spaces import CameraReading
from vision.space_config import CameraBaysConfig
from vision.spaces import BayMonitor, camera_readings

logger = logging.getLogger(__name__)


class BayCameraWorker:
    def __init__(
        self,
        config: CameraBaysConfig,
        monitor: BayMonitor,
        apply: Callable[[list[CameraReading]], object],
        clock: Callable[[], datetime],
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.monitor = monitor
        self._apply = apply
        self._clock = clock
        self._stop = stop

    def run(self) -> None:
        # vision.sources is imported here so a product without bay cameras never loads it.
        from vision.sources import CorruptFrameError, SourceError, open_source
        from vision.spaces import FrameSizeError

        config, monitor, camera_id = self.config, self.monitor, self.config.id
        try:
            source = open_source(config.source, name=camera_id)
        except SourceError as err:
            logger.error("bay camera %s cannot start: %s", camera_id, err)
            return
        delay = 1.0
        while not self._stop.is_set():
            try:
                source.open()
                delay = 1.0
                while not self._stop.is_set():
                    try:
                        frame = source.read()
                    except CorruptFrameError as err:  # one bad frame: skip it, keep the stream
                        logger.warning("bay camera %s: %s", camera_id, err)
                        frame = None
                    if frame is not None:
                        try:
                            result = monitor.update(frame, self._clock())
                        except FrameSizeError:
                            pass  # counted and logged by the monitor
                        else:
                            self._apply(
                                camera_readings(result, config.bay_spaces, camera_id)
                            )
                    self._stop.wait(config.every_s)
            except SourceError as err:
                logger.warning("bay camera %s: %s; retrying in %.0f s", camera_id, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
            except Exception:
                logger.exception("bay camera %s worker failed; restarting", camera_id)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
            finally:
                with contextlib.suppress(Exception):
                    source.close()
