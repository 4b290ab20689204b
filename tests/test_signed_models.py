"""Trust that does not live where an attacker can write: a registered version runs only when a key
outside the store vouches for it. Each attack of issue 22 on the model path is a test here: 0 code
executions, each refusal names the version and the right cause. Every test works on its own copy
of the trained champion's store (signed at training by the test run's key, conftest
``signing_keys``)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import Planted

from resilience.core.errors import ResilienceError

NAME = "line-resilience"


@pytest.fixture()
def store(own_store, mlflow_at):
    mlflow_at(own_store)
    return own_store


def _version_folder(version: str = "1") -> Path:
    from mlflow.tracking import MlflowClient

    uri = MlflowClient().get_model_version_download_uri(NAME, version)
    return Path(uri.removeprefix("file://"))


def _run_folder(version: str = "1") -> Path:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(client.get_model_version(NAME, version).run_id)
    return Path(run.info.artifact_uri.removeprefix("file://"))


def _refused(uri: str, match: str, **kwargs) -> None:
    from resilience.tracking import vetting

    with pytest.raises(vetting.UnvettedModel, match=match) as caught:
        vetting.load_vetted_model(uri, **kwargs)
    assert f"{NAME} version" in str(caught.value) and "\n" not in str(caught.value)


def test_the_signed_champion_loads_and_says_who_vouched_for_it(store):
    from resilience.tracking import vetting

    loaded = vetting.load_vetted_model(f"models:/{NAME}@champion", evaluation_model=True)
    assert (
        loaded.vetted.version == "1" and "reviewed by resilience-train" in loaded.vetted.signed_by
    )
    assert loaded.evidence.evaluation_model is not None and loaded.evidence.drift_reference


def test_an_edited_model_with_its_digest_tag_rewritten_does_not_run(store, tmp_path):
    """Attack: overwrite python_model.pkl with a pickle that runs code, then set artifact_sha256 to
    the new digest (the proof of trust an attacker can write)."""
    from mlflow.tracking import MlflowClient

    from resilience.tracking import vetting

    marker = tmp_path / "code-ran"
    (_version_folder() / "python_model.pkl").write_bytes(Planted.pickled(marker))
    digest = vetting.model_digest(_version_folder())
    MlflowClient().set_model_version_tag(NAME, "1", vetting.DIGEST_TAG, digest)
    _refused(f"models:/{NAME}@champion", "model files changed after they were signed")
    assert not marker.exists()


def test_a_version_registered_by_hand_with_a_forged_card_tag_does_not_run(store, tmp_path):
    """Attack: register a new version from the champion's source and set the model_card tag (and
    copy the champion's tags, its signature included)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version(NAME, "1")
    forged = mlflow.register_model(champion.source, NAME)
    _refused(f"models:/{NAME}/{forged.version}", "is not signed.*resilience-sign version=2")
    for key, value in champion.tags.items():
        client.set_model_version_tag(NAME, forged.version, key, value)
    _refused(
        f"models:/{NAME}/{forged.version}", "signature was made for another registered version"
    )


def test_a_planted_evaluation_model_is_never_unpickled(store, small_history, contract, tmp_path):
    """Attack: a hostile evidence/evaluation_model.pkl in the champion's run. The champion rule
    refuses to load the champion (the new version stays challenger, with the reason)."""
    from resilience.tracking import vetting

    loaded = vetting.load_vetted_model(f"models:/{NAME}/1")
    marker = tmp_path / "code-ran"
    (_run_folder() / "evidence" / "evaluation_model.pkl").write_bytes(Planted.pickled(marker))
    _refused(
        f"models:/{NAME}/1", "evidence file evidence/evaluation_model.pkl .* changed after signing"
    )
    import mlflow

    challenger = mlflow.register_model(_version_folder().as_uri(), NAME).version
    decision, churn = _champion_rule(challenger, loaded, small_history, contract)
    assert not decision.promote and "did not pass vetting" in decision.reason and churn is None
    assert not marker.exists()


def test_files_swapped_after_the_check_are_never_loaded(store, tmp_path, monkeypatch):
    """Attack: swap the version's pickles where they were read from (a local store's own folders;
    a remote store's private copy) between the digest check and the load. What is unpickled is the
    bytes that were hashed, so the swap changes nothing."""
    from resilience.tracking import vetting

    marker = tmp_path / "code-ran"
    real_copy = vetting.copy_version
    read_from = (_version_folder(), _run_folder() / "evidence")

    def copy_then_swap(info, into):
        copy = real_copy(info, into)
        swapped = [p for folder in (*read_from, into) for p in folder.rglob("*.pkl")]
        assert len(swapped) >= 2, "the model and the evaluated model are where the attacker writes"
        for path in swapped:
            path.write_bytes(Planted.pickled(marker))
        return copy

    monkeypatch.setattr(vetting, "copy_version", copy_then_swap)
    loaded = vetting.load_vetted_model(f"models:/{NAME}@champion", evaluation_model=True)
    assert loaded.model.contract.name == "default" and not marker.exists()
    assert loaded.evidence.evaluation_model is not None
    # and the next load sees the swap: refused, nothing run
    monkeypatch.setattr(vetting, "copy_version", real_copy)
    _refused(f"models:/{NAME}@champion", "changed|not what was signed")
    assert not marker.exists()


def test_a_private_copy_is_private(store, monkeypatch):
    from resilience.tracking import vetting

    modes = []
    real_copy = vetting.copy_version

    def record(info, into):
        modes.append(stat.S_IMODE(os.stat(into).st_mode))
        return real_copy(info, into)

    monkeypatch.setattr(vetting, "copy_version", record)
    vetting.load_vetted_model(f"models:/{NAME}@champion")
    assert modes == [0o700]


def test_a_signature_edited_in_the_registry_or_made_by_an_untrusted_key_is_refused(store, tmp_path):
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registration, signing

    client = MlflowClient()
    tags = client.get_model_version(NAME, "1").tags
    tag = next(t for t in tags if t.startswith(signing.SIGNATURE_TAG_PREFIX))
    edited = json.loads(tags[tag])
    edited["by"] = "someone else"
    client.set_model_version_tag(NAME, "1", tag, json.dumps(edited))
    _refused(f"models:/{NAME}/1", "does not match what it states")
    client.delete_model_version_tag(NAME, "1", tag)
    other = tmp_path / "other.pem"
    signing.new_key_pair(other, tmp_path / "other-trusted", "not trusted here")
    statement = registration.sign_version(NAME, "1", signing.load_private_key(other), "x", "y")
    _refused(
        f"models:/{NAME}/1", f"signed only by key.*{statement.key_id}.*none of which is trusted"
    )


def test_a_rotated_key_signs_again_and_a_retired_key_vouches_for_nothing(
    store, tmp_path, monkeypatch
):
    from resilience.tracking import registration, signing, vetting

    trusted = tmp_path / "trusted_keys"
    trusted.write_text(Path(os.environ[signing.TRUSTED_ENV]).read_text())
    monkeypatch.setenv(signing.TRUSTED_ENV, str(trusted))
    old_line = trusted.read_text()
    new_id, created = signing.new_key_pair(tmp_path / "2027.pem", trusted, "rotation")
    assert created and len(signing.trusted_keys(trusted)) == 2
    key = signing.load_private_key(tmp_path / "2027.pem")
    statement = registration.sign_version(NAME, "1", key, "head-of-analysis", "key rotation")
    assert statement.key_id == new_id
    trusted.write_text(trusted.read_text().replace(old_line, ""))  # the old key retired
    assert vetting.load_vetted_model(f"models:/{NAME}/1").vetted.signed_by.startswith(
        f"key {new_id}"
    )
    trusted.write_text(old_line)  # only the old key: its own signature still vouches
    old_id = next(iter(signing.trusted_keys(trusted)))
    assert vetting.load_vetted_model(f"models:/{NAME}/1").vetted.signed_by.startswith(
        f"key {old_id}"
    )
    trusted.write_text("")
    _refused(f"models:/{NAME}/1", "none of which is trusted")


def test_no_trusted_list_or_one_others_can_write_refuses_before_any_download(store, tmp_path):
    from resilience.tracking import vetting

    with pytest.raises(ResilienceError, match="no trusted public keys at"):
        vetting.load_vetted_model(f"models:/{NAME}/1", trusted_keys=tmp_path / "missing")
    open_list = tmp_path / "trusted"
    open_list.write_text("")
    open_list.chmod(0o666)
    with pytest.raises(ResilienceError, match="can be written by other users"):
        vetting.load_vetted_model(f"models:/{NAME}/1", trusted_keys=open_list)


def test_a_trusted_list_in_a_folder_others_can_write_is_refused(tmp_path):
    """Whatever the list's own mode, a folder others can write lets anyone swap in their own
    list; a folder like /tmp (sticky: only a file's owner may replace it) is fine."""
    from resilience.tracking import signing

    folder = tmp_path / "keys"
    signing.new_key_pair(folder / "registration_key.pem", folder / "trusted_keys", "test")
    assert len(signing.trusted_keys(folder / "trusted_keys")) == 1
    folder.chmod(0o777)
    with pytest.raises(ResilienceError, match="which other users can write"):
        signing.trusted_keys(folder / "trusted_keys")
    folder.chmod(0o1777)
    assert len(signing.trusted_keys(folder / "trusted_keys")) == 1


def test_signing_refuses_what_changed_since_registration_or_since_it_was_signed(store, tmp_path):
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registration, signing

    key = signing.load_private_key(Path(os.environ[signing.KEY_ENV]))
    (_run_folder() / "model_card" / "model_card.md").write_text("a friendlier card")
    with pytest.raises(ResilienceError, match="signed before and has changed since.*model card"):
        registration.sign_version(NAME, "1", key, "reviewer", "looks fine")
    (_version_folder() / "MLmodel").write_text("edited")
    tags = MlflowClient().get_model_version(NAME, "1").tags
    for tag in tags:
        if tag.startswith(signing.SIGNATURE_TAG_PREFIX):
            MlflowClient().delete_model_version_tag(NAME, "1", tag)
    with pytest.raises(ResilienceError, match="do not match the digest recorded at registration"):
        registration.sign_version(NAME, "1", key, "reviewer", "looks fine")


def test_registration_without_a_key_says_so(store, tmp_path):
    from resilience.pipelines.train_registration import sign_registered
    from resilience.tracking.store import TrackingConfig

    key_id, why = sign_registered(
        NAME, "1", TrackingConfig(signing_key=str(tmp_path / "none.pem")), "run"
    )
    assert key_id is None and "no registration key at" in why and "none.pem" in why
    loose = tmp_path / "loose.pem"
    from resilience.tracking import signing

    signing.new_key_pair(loose, tmp_path / "trusted", "x")
    loose.chmod(0o644)
    key_id, why = sign_registered(NAME, "1", TrackingConfig(signing_key=str(loose)), "run")
    assert key_id is None and "can be read by other users" in why


@pytest.mark.slow
def test_the_card_command_checks_the_signature_first_and_signs_again(store, tmp_path):
    from conftest import run_command

    from resilience.tracking import vetting

    card = run_command(
        "resilience-card", f"model_uri=models:/{NAME}/1", cwd=tmp_path, env=store.env
    )
    assert card.returncode == 0 and "signed version 1 again" in card.stdout, card.stderr[-2000:]
    vetting.load_vetted_model(f"models:/{NAME}/1")  # the new card is what is signed now
    (_version_folder() / "MLmodel").write_text("edited")
    refused = run_command(
        "resilience-card", f"model_uri=models:/{NAME}/1", cwd=tmp_path, env=store.env
    )
    assert refused.returncode == 2 and "model files changed" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_a_card_folder_that_cannot_be_made_fails_before_the_card_is_logged_or_signed(
    store, tmp_path
):
    from conftest import run_command
    from mlflow.tracking import MlflowClient

    before = MlflowClient().get_model_version(NAME, "1").tags
    (tmp_path / "a-file").write_text("not a folder")
    card = run_command(
        "resilience-card",
        f"model_uri=models:/{NAME}/1",
        f"out_dir={tmp_path / 'a-file' / 'card'}",
        cwd=tmp_path,
        env=store.env,
    )
    assert card.returncode == 2 and len(card.stderr.splitlines()) == 1, card.stderr[-2000:]
    assert "a-file" in card.stderr and card.stdout == ""
    assert MlflowClient().get_model_version(NAME, "1").tags == before


def test_promote_makes_champion_only_a_version_scoring_would_accept(store, tmp_path):
    """A version registered without a signature (a registration stopped before signing, or one
    added by hand) is refused by resilience-promote in one line naming how to sign it, and the
    champion stays; promoting the champion again changes nothing and says so."""
    from conftest import run_command
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    signed = client.get_model_version(NAME, "1")
    unsigned = client.create_model_version(NAME, signed.source, run_id=signed.run_id).version
    refused = run_command(
        "resilience-promote",
        f"version={unsigned}",
        "reason=test",
        "by=qa",
        cwd=tmp_path,
        env=store.env,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "not promoted" in refused.stderr and "resilience-sign" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    # the champion promoted again: nothing changes, its recorded decision stands
    before = client.get_model_version(NAME, "1").tags
    again = run_command(
        "resilience-promote", "version=1", "reason=again", "by=qa", cwd=tmp_path, env=store.env
    )
    assert again.returncode == 0 and "version 1 is already champion" in again.stdout
    assert "nothing changed" in again.stdout and "is now champion" not in again.stdout
    assert client.get_model_version(NAME, "1").tags == before
    # ... unless scoring would refuse it: then it says so, rather than that all is well
    card = _run_folder() / "model_card" / "model_card.md"
    card.write_text(card.read_text() + " ")
    changed = run_command(
        "resilience-promote", "version=1", "reason=again", "by=qa", cwd=tmp_path, env=store.env
    )
    assert changed.returncode == 2 and "not promoted" in changed.stderr, changed.stdout
    assert "card documents" in changed.stderr and len(changed.stderr.splitlines()) == 1
    assert client.get_model_version(NAME, "1").tags == before


@pytest.mark.parametrize("entry", ["link", "pipe"])
def test_a_link_or_a_pipe_among_a_versions_files_is_refused_not_read(tmp_path, entry):
    """A store's folders can be written by others: an entry that is not a plain file (a link to
    something else, a pipe a read would wait on forever) is refused before anything is read."""
    from resilience.tracking import vetting

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(b"not the model")
    if entry == "link":
        (folder / "python_model.pkl").symlink_to(outside)
    else:
        os.mkfifo(folder / "python_model.pkl")
    expected = "symbolic link" if entry == "link" else "not a plain file"
    with pytest.raises(vetting.UnvettedModel, match=expected):
        vetting.read_files(folder)
    (folder / "python_model.pkl").unlink()
    assert vetting.read_files(folder) == {"MLmodel": b"flavors: {}\n"}


def test_a_link_among_a_registered_versions_files_is_refused_naming_the_version(store):
    """The refusal of a link planted in the store names the version it was found in."""
    (_version_folder() / "planted").symlink_to("/etc/hostname")
    _refused(f"models:/{NAME}/1", "planted is a symbolic link")


def test_promote_refusing_a_changed_version_does_not_advise_signing_it(store):
    """A signed version changed since is not fixed by signing it again (that is refused too): the
    refusal says to restore or register anew, never to run resilience-sign."""
    from resilience.cli.promote import _refuse_unvetted

    card = _run_folder() / "model_card" / "model_card.md"
    card.write_text(card.read_text() + " ")
    with pytest.raises(ResilienceError, match="changed") as refused:
        _refuse_unvetted(NAME, "1", None)
    assert "resilience-sign" not in str(refused.value) and "not promoted" in str(refused.value)


def test_a_rollback_passes_over_deleted_champions(store):
    """A champion history that holds deleted versions (the one before the champion, or the
    champion itself) rolls back to the latest earlier champion still registered, and says which
    it passed over; with none left it is refused in one line, the champion unchanged."""
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registry

    client = MlflowClient()
    signed = client.get_model_version(NAME, "1")
    for _ in range(3):  # versions 2, 3 and 4
        client.create_model_version(NAME, signed.source, run_id=signed.run_id)
    for version in ("2", "3"):
        registry.record_champion(NAME, version)
    client.delete_model_version(NAME, "2")
    plan = registry.rollback_plan(NAME)
    assert (plan.previous, plan.deleted) == ("1", ["2"])
    assert registry.rollback_champion(NAME, "misranked", "qa") == "1"
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    assert client.get_model_version(NAME, "3").tags["promotion.rolled_back"] == "true"
    registry.record_champion(NAME, "4")
    client.delete_model_version(NAME, "4")  # the champion itself: nothing left to tag on it
    assert registry.rollback_champion(NAME, "deleted", "qa") == "1"
    assert client.get_registered_model(NAME).tags[registry.CHAMPION_HISTORY_TAG] == "1"
    with pytest.raises(ResilienceError, match="no earlier champion.*resilience-promote version="):
        registry.rollback_plan(NAME)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    registry.record_champion(NAME, "3")
    client.set_registered_model_alias(NAME, "champion", "1")  # moved by hand, not by a promotion
    with pytest.raises(ResilienceError, match="alias was moved outside resilience-promote"):
        registry.rollback_champion(NAME, "by hand", "qa")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"


def test_the_card_states_the_vetted_digest_and_never_breaks_another_versions_card(store, tmp_path):
    """A regenerated card states the digest of the files as vetted, not the registration tag
    (anyone who can write the registry can edit it). A version registered again from the same run
    shares that run's card with the signed one: regenerating it is refused in one line, and the
    signed version still loads."""
    from conftest import run_command
    from mlflow.tracking import MlflowClient

    from resilience.tracking import vetting

    client = MlflowClient()
    signed = client.get_model_version(NAME, "1")
    true_digest = vetting.load_vetted_model(f"models:/{NAME}/1").vetted.sha256
    client.set_model_version_tag(NAME, "1", vetting.DIGEST_TAG, "0" * 64)
    card = run_command(
        "resilience-card", f"model_uri=models:/{NAME}/1", cwd=tmp_path, env=store.env
    )
    assert card.returncode == 0, card.stderr[-2000:]
    text = (_run_folder() / "model_card" / "model_card.md").read_text()
    assert true_digest in text and "0" * 64 not in text
    again = client.create_model_version(NAME, signed.source, run_id=signed.run_id).version
    refused = run_command(
        "resilience-card", f"model_uri=models:/{NAME}/{again}", cwd=tmp_path, env=store.env
    )
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert (
        f"signed card of {NAME} version 1" in refused.stderr and "Traceback" not in refused.stderr
    )
    assert (_run_folder() / "model_card" / "model_card.md").read_text() == text
    vetting.load_vetted_model(f"models:/{NAME}/1")


def _champion_rule(challenger: str, loaded, history, contract):
    """The champion rule for version ``challenger`` against the vetted champion ``loaded``."""
    from resilience.governance.champion import ChampionConfig, Recipe
    from resilience.governance.promotion import apply_champion_rule

    return apply_champion_rule(
        challenger,
        loaded.model,
        loaded.evidence,
        Recipe.of(loaded.model),
        history,
        contract,
        NAME,
        ChampionConfig(),
    )


def test_a_deleted_best_champion_does_not_stop_the_champion_rule(store, small_history, contract):
    """The best champion so far (the cumulative budget's yardstick) deleted from the registry:
    a new version is still compared with the champion and decided, not failed at registration."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registry, vetting

    loaded = vetting.load_vetted_model(f"models:/{NAME}/1", evaluation_model=True)
    deleted = mlflow.register_model(_version_folder().as_uri(), NAME).version
    registry.set_best_champion(NAME, deleted)
    MlflowClient().delete_model_version(NAME, deleted)
    challenger = mlflow.register_model(_version_folder().as_uri(), NAME).version
    decision, _ = _champion_rule(challenger, loaded, small_history, contract)
    assert decision.numbers.get("compared_with_version") == "1", decision.reason
