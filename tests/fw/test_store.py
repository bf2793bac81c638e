from fwtest import fresh_dir
from store import Store


def test_update_persists_and_skips_unchanged():
    path = fresh_dir() + "/state.json"
    store = Store(path)
    assert store.get("lock_state") is None and not store.was_reset
    store.update(lock_state=1, loaded_mv=3500)
    assert Store(path).get("lock_state") == 1
    store.update(lock_state=1)
    assert Store(path).get("loaded_mv") == 3500


def test_unreadable_file_is_reset_not_fatal():
    path = fresh_dir() + "/state.json"
    with open(path, "w") as f:
        f.write('{"lock_state": 1, "loa')  # torn by a power cut on a filesystem without rename
    store = Store(path)
    assert store.was_reset and store.get("lock_state") is None
    store.update(lock_state=2)
    assert Store(path).get("lock_state") == 2


def test_leftover_temporary_file_is_ignored():
    path = fresh_dir() + "/state.json"
    Store(path).update(lock_state=1)
    with open(path + ".tmp", "w") as f:
        f.write("{")  # a cut between writing the new state and the rename
    assert Store(path).get("lock_state") == 1
