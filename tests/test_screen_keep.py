"""Verdicts that hold across retrains: what the champion shows stays shown while this run's own
evidence stays clear (``explain.screen.keep_ratio``), and nothing else is carried over."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from resilience.core.errors import ConfigError
from resilience.explain.screen import ReasonScreen, ScreenConfig, keep_champion_verdicts

CONFIG = ScreenConfig(min_ratio=3.5, keep_ratio=2.5, summary_alpha=0.05)


def _table() -> pd.DataFrame:
    """A screen's table as :func:`null_importance` gives it, with rows around both bars."""
    rows = [  # kind, name, ratio, own-effect p-value (NaN: not a summary column)
        ("feature", "clear", 5.0, np.nan),  # earned on its own
        ("feature", "near", 3.0, np.nan),  # shown by the champion, still clear
        ("feature", "faded", 2.0, np.nan),  # shown by the champion, no longer clear
        ("feature", "new", 3.0, np.nan),  # the champion did not show it
        ("feature", "summary", 3.0, 0.4),  # a summary column with no effect of its own
        ("feature", "noise", 0.8, np.nan),  # below its null
        ("concept", "kept_concept", 2.8, np.nan),
        ("concept", "new_concept", 3.0, np.nan),
    ]
    table = pd.DataFrame(rows, columns=["kind", "name", "ratio", "own_effect_p_value"])
    table["beats_null"] = table["ratio"] > 1
    table["earned"] = table["beats_null"] & (table["ratio"] >= CONFIG.min_ratio)
    table["verdict"] = np.where(table["earned"], "earned", "below the bar")
    return table


CHAMPION = ReasonScreen(
    earned_features=("clear", "near", "faded", "summary", "noise"),
    earned_concepts=("kept_concept",),
)


def _earned(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["earned"], "name"])


def test_the_champion_s_verdicts_stay_while_the_evidence_is_clear():
    kept = keep_champion_verdicts(_table(), CONFIG, CHAMPION)
    assert _earned(kept) == {"clear", "near", "kept_concept"}
    assert set(kept.loc[kept["kept"], "name"]) == {"near", "kept_concept"}
    near = kept.set_index("name").loc["near", "verdict"]
    assert near.startswith("kept: shown by the champion") and "3.0x" in near


def test_nothing_is_kept_without_a_champion_a_screen_or_the_setting():
    table = _table()
    for champion, config in [
        (None, CONFIG),  # the first model of a store
        (replace(CHAMPION, mode="none"), CONFIG),  # trained without a screen: it showed everything
        (CHAMPION, replace(CONFIG, keep_ratio=0.0)),  # switched off
    ]:
        kept = keep_champion_verdicts(table, config, champion)
        assert _earned(kept) == {"clear"} and not kept["kept"].any()
    assert "kept" not in table.columns, "the table given is not changed"


@pytest.mark.parametrize("keep_ratio", [0.5, 4.0])
def test_keep_ratio_lies_between_the_null_and_the_bar_to_enter(keep_ratio):
    with pytest.raises(ConfigError, match="keep_ratio must be 0 \\(off\\) or between 1 and"):
        ScreenConfig(min_ratio=3.5, keep_ratio=keep_ratio)


def test_the_cohort_level_to_stay_is_no_stricter_than_the_level_to_enter():
    with pytest.raises(ConfigError, match="cohort_keep_alpha must be 0 \\(off\\) or at least"):
        ScreenConfig(cohort_alpha=0.05, cohort_keep_alpha=0.01)
    assert ScreenConfig(cohort_alpha=0.05, cohort_keep_alpha=0.0).cohort_keep_alpha == 0.0


def test_training_reads_the_registered_champion_s_screen(trained, mlflow_at):
    """A run that registers keeps its verdicts from the champion it will be compared with; a run
    that registers nothing, or keeps nothing, does not read the store."""
    from resilience.pipelines.train import TrainSettings, champion_screen, registered_champion
    from resilience.tracking.store import TrackingConfig
    from resilience.tracking.vetting import load_persistence_model

    mlflow_at(trained)
    tracking = TrackingConfig(tracking_uri=trained.uri)
    settings = TrainSettings(screen=ScreenConfig(), tracking=tracking)
    loaded = registered_champion(settings)  # vetted and loaded once, for the screen and the rule
    screen = champion_screen(settings, loaded)
    champion, _ = load_persistence_model("models:/line-resilience/1")
    assert loaded.vetted.version == "1" and loaded.evidence.evaluation_model is not None
    assert screen is not None and screen.mode == "hide"
    assert screen.earned_features == champion.reason_screen_.earned_features
    assert screen.earned_concepts == champion.reason_screen_.earned_concepts
    for settings in (
        TrainSettings(screen=ScreenConfig(keep_ratio=0.0), tracking=tracking),
        TrainSettings(screen=None, tracking=tracking),
    ):
        assert champion_screen(settings, loaded) is None
    assert registered_champion(TrainSettings(tracking=replace(tracking, register=False))) is None


def test_the_model_card_says_which_reasons_were_kept(monkeypatch, contract):
    """The card's "Which reasons are earned" names the bar to stay and marks each kept feature."""
    from resilience.governance import card

    table = keep_champion_verdicts(_table(), CONFIG, CHAMPION)
    monkeypatch.setattr(card.runs, "artifact_text", lambda run_id, name: table.to_csv(index=False))
    params = {"explain.screen.min_ratio": "3.5", "explain.screen.keep_ratio": "2.5"}
    screen = card._screen("run", contract, params)
    shown = {row["label"]: row["shown"] for row in screen["rows"]}
    assert shown["clear"] == "yes" and shown["near"].startswith("yes (kept: shown by the champion")
    assert shown["faded"].startswith("no") and shown["new"].startswith("no")
    assert screen["keep_ratio"] == "2.5"
    off = card._screen("run", contract, {**params, "explain.screen.keep_ratio": "0.0"})
    assert off["keep_ratio"] is None, "no bar to stay is stated when verdicts are not kept"


def test_a_champion_that_fails_vetting_is_not_read_and_training_goes_on(
    trained, mlflow_at, monkeypatch, caplog
):
    """The champion rule trains on past a champion it cannot vet (the new version stays
    challenger, with the reason); so does the screen, keeping nothing and saying why."""
    from resilience.pipelines.train import TrainSettings, champion_screen, registered_champion
    from resilience.tracking import vetting
    from resilience.tracking.store import TrackingConfig

    def refused(*args, **kwargs):
        raise vetting.UnvettedModel("models:/line-resilience/1 is not signed by a trusted key")

    mlflow_at(trained)
    monkeypatch.setattr(vetting, "load_vetted_model", refused)
    settings = TrainSettings(
        screen=ScreenConfig(), tracking=TrackingConfig(tracking_uri=trained.uri)
    )
    assert registered_champion(settings) is None
    assert champion_screen(settings, registered_champion(settings)) is None
    assert "the champion's reasons are not kept: models:/line-resilience/1 is not signed" in (
        caplog.text
    )


@pytest.mark.slow
def test_a_retrain_keeps_what_its_champion_showed(
    tiny_world_dir, contract, mlflow_uri, monkeypatch
):
    """Training hands the champion's screen to this run's: with a bar to enter no column clears
    (1000x) and a bar to stay every column beating its null clears (1x), what the run shows is
    exactly what the champion showed and this run's evidence still supports."""
    from conftest import TINY_WORLD

    import resilience.pipelines.train as pipeline
    from resilience.data.validate import validate_frame
    from resilience.learn.evaluation import EvaluationConfig
    from resilience.learn.models import PersistenceModel
    from resilience.tracking.store import TrackingConfig

    history = validate_frame(
        pd.read_parquet(tiny_world_dir / "disruptions.parquet"),
        contract,
        require_label=True,
        today=pd.Timestamp(TINY_WORLD.end_date),
    ).frame
    features = tuple(contract.features)
    everything = ReasonScreen(features, tuple({contract.concept_of(f).name for f in features}))
    monkeypatch.setattr(pipeline, "champion_screen", lambda settings, champion: everything)
    settings = pipeline.TrainSettings(
        evaluation=EvaluationConfig(n_bootstrap=20),
        tracking=TrackingConfig(tracking_uri=mlflow_uri, register=False),
        screen=ScreenConfig(
            min_ratio=1000.0, keep_ratio=1.0, permutations=2, resamples=2, n_jobs=1, seed=3
        ),
        progress=False,
    )
    data = pipeline.TrainingData(history, contract, "tiny.parquet", "0" * 64)
    result = pipeline.train_and_track(data, PersistenceModel(contract), settings)
    screen = result.evaluation.model.reason_screen_
    table = screen.table[screen.table["kind"] == "feature"]
    kept = set(table.loc[table["kept"], "name"])
    on_its_own = table["ratio"] >= 1000  # a null of (nearly) nothing: the column was never split on
    no_own_effect = table["own_effect_p_value"] >= settings.screen.summary_alpha
    assert kept == set(table.loc[table["beats_null"] & ~on_its_own & ~no_own_effect, "name"])
    assert kept and set(screen.earned_features) == kept | set(table.loc[on_its_own, "name"])
    assert result.evaluation.metrics["screen_features_kept"] == len(kept)


def test_a_concept_is_shown_through_an_earned_column_unless_its_columns_cancel_out():
    """A concept's null is that of the sum of its columns: columns without an effect beside a
    strong one keep the concept below the bar though the strong column earned its place. Such a
    concept is shown (its earned columns only) while it beats its null as a whole; a concept whose
    columns cancel out to noise, or that holds no earned column, is not."""
    from resilience.data.contract import load_data_contract
    from resilience.explain.screen import screen_from_table

    contract = load_data_contract("default")
    rows = [  # kind, name, concept, ratio
        ("feature", "deal_numbers", "market", 5.0),  # earned
        ("feature", "contacts", "market", 0.6),  # no effect, in the same concept
        ("concept", "market", "market", 2.2),  # diluted by contacts' null, still beats its own
        ("feature", "handsets_seized", "telecoms", 4.0),  # earned
        ("concept", "telecoms", "telecoms", 0.9),  # its columns cancel: noise as a whole
        ("feature", "runners", "workforce", 2.0),  # below the bar
        ("concept", "workforce", "workforce", 2.0),
    ]
    table = pd.DataFrame(rows, columns=["kind", "name", "concept", "ratio"])
    table["beats_null"] = table["ratio"] > 1
    table["earned"] = table["beats_null"] & (table["ratio"] >= CONFIG.min_ratio)
    table["verdict"] = np.where(table["earned"], "earned", "below the bar")
    screen = screen_from_table(table, CONFIG)
    assert set(screen.earned_concepts) == {"market"}
    features = ["deal_numbers", "contacts", "handsets_seized", "runners"]
    assert screen.shown(contract, features).tolist() == [True, False, False, False]
    market = screen.table.set_index("name").loc["market"]
    assert market["through"] == "deal_numbers" and "2.2x its null as a whole" in market["verdict"]
    assert not table.loc[table["name"] == "market", "earned"].any(), "the given table is unchanged"


class _Calibrated:
    """A model whose calibration by cohort found its cohorts differ with ``p`` (None: no cohorts)."""

    def __init__(self, p):
        self.p = p

    def cohort_evidence(self):
        return None if self.p is None else ("line_type", self.p)


@pytest.mark.parametrize(
    "p, alpha, earned",
    [(1e-6, 0.01, True), (0.03, 0.01, False), (1e-6, 0.0, False), (None, 0.01, False)],
)
def test_the_line_type_is_named_for_its_offset_only_on_the_calibration_s_evidence(p, alpha, earned):
    """The line type's points hold the calibrator's offset for its cohort, which the permuted
    refits (no calibrator) never see: it is named when the calibration's own test finds the line
    types differ, below ``cohort_alpha``; otherwise its verdict is the null test's."""
    from resilience.explain.verdicts import judge_cohort

    rows = [  # kind, name, concept, ratio
        ("feature", "line_type", "line_origin", 2.6),
        ("feature", "origin_hub", "line_origin", 1.1),
        ("concept", "line_origin", "line_origin", 0.9),
    ]
    table = pd.DataFrame(rows, columns=["kind", "name", "concept", "ratio"])
    table["beats_null"] = table["ratio"] > 1
    table["earned"] = False
    table["verdict"] = "below the bar"
    judge_cohort(table, _Calibrated(p), replace(CONFIG, cohort_alpha=alpha))
    by_name = table.set_index("name")
    assert bool(by_name.loc["line_type", "earned"]) is earned
    assert bool(by_name.loc["line_origin", "earned"]) is earned
    assert not by_name.loc["origin_hub", "earned"], "only the cohort column rests on the offset"
    if earned:
        assert "earned by the calibration by line_type" in by_name.loc["line_type", "verdict"]


@pytest.mark.parametrize(
    "p, showed, kept",
    [(0.03, True, True), (0.2, True, False), (0.03, False, False)],
)
def test_the_line_type_the_champion_showed_stays_while_its_calibration_evidence_holds(
    p, showed, kept
):
    """The line type named for its calibration offset enters below ``cohort_alpha`` (0.01) and,
    shown by the champion, stays below ``cohort_keep_alpha`` (0.05): a p-value near the level
    does not flip the reason on every retrain."""
    rows = [  # kind, name, ratio, own-effect p-value, cohort p-value
        ("feature", "line_type", 2.0, np.nan, p),
        ("concept", "line_origin", 0.9, np.nan, p),
        ("feature", "origin_hub", 2.0, np.nan, np.nan),
    ]
    columns = ["kind", "name", "ratio", "own_effect_p_value", "cohort_p_value"]
    table = pd.DataFrame(rows, columns=columns)
    table["beats_null"] = table["ratio"] > 1
    table["earned"] = False
    table["verdict"] = "below the bar"
    names = ("line_type", "origin_hub") if showed else ("origin_hub",)
    champion = ReasonScreen(earned_features=names, earned_concepts=("line_origin",) * showed)
    result = keep_champion_verdicts(table, CONFIG, champion).set_index("name")
    assert bool(result.loc["line_type", "kept"]) is kept
    assert bool(result.loc["line_origin", "kept"]) is kept
    assert not result.loc["origin_hub", "kept"], "2.0x its null is below keep_ratio"
    if kept:
        assert "for its calibration offset" in result.loc["line_type", "verdict"]
