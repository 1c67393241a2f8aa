"""The transaction family's conformance kit: the state it accepts."""

from __future__ import annotations

from pytest_dchaos.families.txn.conformance import state_problems

CONTRACT_STATE = {"decisions": {"n1.1.1": "commit"}, "locks": {}, "wal_len": 3}


def test_the_contracts_state_alone_conforms() -> None:
    assert state_problems(CONTRACT_STATE, ("n1",)) == []


def test_txns_where_given_tie_each_transaction_to_a_client_request() -> None:
    good = {**CONTRACT_STATE, "txns": {"n1.1.1": {"client": "c1", "msg_id": 4}}}
    assert state_problems(good, ("n1",)) == []
    bad = {**CONTRACT_STATE, "txns": {"n1.1.1": {"client": "c1", "msg_id": "4"}}}
    assert state_problems(bad, ("n1",)) == [
        "'txns', where given, must be an object of transaction id → {\"client\": cK, "
        "\"msg_id\": N}; 'n1.1.1' is {'client': 'c1', 'msg_id': '4'}"]
