"""DATAPLANE_CONFIRM_SECONDS, the bound on the read-your-writes wait, is parsed strictly."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.env import Env


@pytest.mark.parametrize("value, expected", [(None, 2.0), ("0", 0.0), ("0.5", 0.5), ("30", 30.0)])
def test_it_reads_a_bound_from_0_to_30_seconds(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("DATAPLANE_CONFIRM_SECONDS", raising=False)
    else:
        monkeypatch.setenv("DATAPLANE_CONFIRM_SECONDS", value)
    assert Env().seconds("DATAPLANE_CONFIRM_SECONDS", default=2.0, maximum=30) == expected


@pytest.mark.parametrize("value, message", [("soon", "must be a number"), ("-1", "must not be negative"),
                                            ("31", "must be from 0 to 30 seconds"),
                                            ("nan", "must be from 0 to 30 seconds")])
def test_it_refuses_a_malformed_bound(monkeypatch, value, message):
    monkeypatch.setenv("DATAPLANE_CONFIRM_SECONDS", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        Env().seconds("DATAPLANE_CONFIRM_SECONDS", default=2.0, maximum=30)
