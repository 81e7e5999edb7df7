"""CIFAR-10 transfer learning with MobileNetV2, calibration and measured explanations.

Each module holds one concept, and data flows one way:
``data`` -> ``model`` -> ``training`` -> ``evaluation`` (temperature scaling: ``mlshared.calibration``) -> ``cams`` ->
``explanation_quality`` -> ``export``. ``recipes`` holds the knobs of the three run modes.
"""

__version__ = "0.1.0"
