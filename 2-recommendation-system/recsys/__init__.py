"""Recommender systems on MovieLens with a rigorous offline comparison and a simulated A/B test.

Data flows one way: ``data`` -> ``splitting`` -> ``models`` -> ``evaluation`` ->
``comparison`` / ``abtest`` / ``interleaving``.
"""

__version__ = "0.1.0"
