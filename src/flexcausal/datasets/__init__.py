"""Built-in data: the simulation designs of the papers (each returns a pandas DataFrame).

>>> import flexcausal as fc
>>> df = fc.datasets.three_hills(2000)          # y, x1, x2, truth
>>> df = fc.datasets.hierarchical(1000)         # y, x1, x2, x3, g, truth
"""

from .simulations import hierarchical, three_hills, three_hills_truth

__all__ = ["hierarchical", "three_hills", "three_hills_truth"]
