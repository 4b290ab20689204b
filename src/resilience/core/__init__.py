"""Small shared types every stage uses: errors, paths, the probability yardstick, ISO weeks, progress.

The bottom layer: it imports nothing else of the toolkit.
"""
