"""resilience: predict which drug supply lines persist after a police disruption.

Importing the package does no work: no tracking URI is set, no config is read.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("resilience")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
