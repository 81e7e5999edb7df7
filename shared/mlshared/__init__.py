"""Small, dataset-agnostic helpers shared by the portfolio's three projects.

Modules: ``run`` (run mode, seeding, environment, metrics JSON), ``classification_metrics``,
``calibration``, ``ranking_metrics``, ``statistics``, ``plotting`` and ``colab`` (notebook setup in Colab).
"""

__version__ = "0.1.0"
