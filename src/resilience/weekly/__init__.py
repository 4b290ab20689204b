"""The weekly run: scoring a week's extract into its folder atomically, the folder's layout and
manifest, CSV safety, drift and the harm-based priority.
"""
