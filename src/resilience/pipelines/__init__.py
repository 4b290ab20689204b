"""Each command's pipeline (train, score, outcomes, report): the steps of every stage, assembled.

Above every stage and below only the command line: steps return their results, and the pipeline
puts them together.
"""
