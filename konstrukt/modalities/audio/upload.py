"""The service's extra rule for an uploaded recording (``Modality.check_upload``): not too short.

Light: soundfile is imported only when a file is checked.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import DataError

MIN_AUDIO_SECONDS = 0.1


def check_duration(path: Path) -> None:
    """Refuse audio too short to hold a sound (the decoder would pad it into silence)."""
    import soundfile

    try:
        seconds = soundfile.info(str(path)).duration
    except Exception:  # a format soundfile cannot size was still decoded by check_file: keep it
        return
    if seconds < MIN_AUDIO_SECONDS:
        raise DataError(f"{path.name}: {seconds * 1000:.0f} ms of audio, shorter than the minimum of "
                        f"{MIN_AUDIO_SECONDS * 1000:.0f} ms", ["Fix: record or upload a longer clip."])
