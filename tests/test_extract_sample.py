"""The sample of a model's labelled records that tells the champion rule whether a challenger
learnt from the same data (resilience.data.extract_sample)."""

from __future__ import annotations

import pandas as pd

from resilience.data.extract_sample import SAMPLE_SIZE, held_in, sample_of
from resilience.data.synthetic import WorldConfig, generate_world
from resilience.data.validate import validate_frame


def test_the_same_data_extended_or_cut_later_is_held_and_another_world_is_not(
    tiny_history, contract
):
    dates = pd.to_datetime(tiny_history[contract.date_column])
    earlier = tiny_history[dates < dates.quantile(0.8)]  # the champion learnt before the last weeks
    sample = sample_of(earlier, contract)
    assert len(sample["records"]) == SAMPLE_SIZE and sample["labelled_rows"] == len(earlier)
    # the same extract, extended by later weeks, or cut to a later window: the same data
    later_rows = tiny_history[dates >= dates.quantile(0.8)]
    # (appended as a loader might, the index repeating)
    appended = pd.concat([earlier.reset_index(drop=True), later_rows.reset_index(drop=True)])
    assert held_in(sample, appended, contract) == held_in(sample, tiny_history, contract)
    extended = held_in(sample, tiny_history, contract)
    assert extended.known and extended.same_data and extended.held == extended.within_span
    later = held_in(sample, tiny_history[dates >= dates.quantile(0.3)], contract)
    assert later.within_span < SAMPLE_SIZE and later.same_data
    # another world of the same simulator (same id scheme, same calendar): not the same data
    other = WorldConfig(n_lines=1500, seed=6, weekly_extract_weeks=40)  # the tiny world's, reseeded
    world = generate_world(other)
    frame = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(other.end_date)
    ).frame
    found = held_in(sample, frame, contract)
    assert found.known and not found.same_data and found.held < 0.1 * found.within_span


def test_corrected_outcomes_count_as_not_held_and_too_little_overlap_cannot_tell(
    tiny_history, contract
):
    sample = sample_of(tiny_history, contract)
    corrected = tiny_history.copy()
    flip = corrected.sample(frac=0.2, random_state=0).index  # a fifth of the outcomes changed
    corrected.loc[flip, contract.label] = ~corrected.loc[flip, contract.label].astype(bool)
    held = held_in(sample, corrected, contract)
    assert not held.same_data and 0.7 < held.held / held.within_span < 0.9
    # an extract overlapping the sample's span by a few days: too few records to tell, so the
    # rule goes on as before (and so does a champion registered before samples were kept)
    dates = pd.to_datetime(tiny_history[contract.date_column])
    edge = tiny_history[dates >= dates.max() - pd.Timedelta(days=3)]
    assert not held_in(sample, edge, contract).known and held_in(sample, edge, contract).same_data
    assert held_in({}, tiny_history, contract).same_data
