"""Misinformation detector: data loading and cleaning, models, ensemble, calibration,
artifacts and batch inference. The Streamlit app (``app.py``) builds on ``load_detector``.

Label convention (see :mod:`misinfo.labels`): y = 1 means "fake", 0 means "real".
"""

from misinfo.labels import FAKE, LABEL_NAMES, REAL

__all__ = ["FAKE", "LABEL_NAMES", "REAL"]
__version__ = "0.1.0"
