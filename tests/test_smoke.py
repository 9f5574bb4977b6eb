import httpx

from tests.support import bearer


def test_served(served):
    d = served["demo"]
    r = httpx.post(d["url"], json={"rows": [{"Type": "animal", "Sound": "woof", "Size": 0.8}]},
                   headers=bearer(d["token"]))
    assert r.status_code == 200, r.text
