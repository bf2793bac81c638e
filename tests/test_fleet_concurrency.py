"""Two clients changing the same lock at the same moment (two coordinators, two processes):
a rule's check and its write are one step, so exactly one wins and the other gets the rule's
refusal, never a doubled record or a raw database error. On both backends."""

from __future__ import annotations

import secrets
import threading
import traceback

import pytest

from hemlas.fleet.lifecycle import KeyCustodyError
from hemlas.fleet.store import FleetStore

T0 = 1_700_000_000


def test_two_key_sign_outs_at_once_one_wins_one_is_refused(store_url):
    rounds = 10
    with FleetStore(store_url) as store:
        store.add_customer("1001", "Karin", "Storgatan 1", now=T0, provider="Omsorg AB")
        for n in range(rounds):
            store.add_lock(f"HL-{n}", "virtual", "1.0", secrets.token_bytes(32), now=T0)
            store.mount_lock(f"HL-{n}", "1001", None, "Fitter", T0 + 10 + n, now=T0 + 1000) if n == 0 else None
    outcomes = []
    for n in range(rounds):
        with FleetStore(store_url) as store:
            if n:  # one lock at a time with the customer: the previous one (its key out) comes down
                store.dismantle_lock(f"HL-{n - 1}", "Fitter", T0 + 20 * n + 1, now=T0 + 10_000)
                store.return_key(f"HL-{n - 1}", "Fitter", T0 + 20 * n + 2, now=T0 + 10_000)
                for key in store.pending_revocations(f"HL-{n - 1}", now=T0):
                    store.mark_revocation_pushed(key.key_id)
                store.mount_lock(f"HL-{n}", "1001", None, "Fitter", T0 + 20 * n + 3, now=T0 + 10_000)
        results, start = [], threading.Barrier(2)

        def sign_out(who):
            try:
                with FleetStore(store_url) as mine:
                    start.wait(30)
                    mine.sign_out_key(f"HL-{n}", who, T0 + 20 * n + 15, now=T0 + 10_000)
                results.append("signed out")
            except KeyCustodyError as err:
                results.append(f"refused: {err}")
            except Exception:  # anything else is the defect this test is for
                results.append(traceback.format_exc())

        threads = [threading.Thread(target=sign_out, args=(f"Fitter {i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        outcomes.append(sorted(results))
        with FleetStore(store_url) as store:
            assert [r.action for r in store.lock_history(f"HL-{n}")].count("key_signed_out") == 1, results
    for results in outcomes:
        assert results[0] == "refused" or results[0].startswith("refused:"), results
        assert results[1] == "signed out", results
