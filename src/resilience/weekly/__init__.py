"""The weekly run: scoring a week's extract into its folder atomically (the transaction, its
named fault points, the chunks, CSV safety), drift and the harm-based priority.
"""
