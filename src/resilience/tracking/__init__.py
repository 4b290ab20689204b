"""Everything MLflow, one job per module: :mod:`.store` (where the store is and whether it can be
used), :mod:`.runs` (runs, params, metrics, artifacts, a model's evidence), :mod:`.registry`
(versions, aliases, the champion history and rollbacks), :mod:`.vetting` (the card and the digest
checked before anything is unpickled), :mod:`.pyfunc` (the registered model as an MLflow pyfunc)
and :mod:`.weekly_runs` (scored weeks, outcomes, decision-log anchors).
"""
