"""When the console's database is unreachable, the data plane keeps serving the
key set it loaded last, and admits no key it has not seen: a key made during
the outage is refused until the database can be read again, and admitted then."""

import shutil
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, free_port, mint
from tests.fixtures.worker import wait_for


@pytest.mark.skipif(connection.vendor != "sqlite", reason="breaks a copy of the SQLite database file")
def test_it_keeps_serving_the_last_key_set_while_the_database_is_broken(
        dataplane_process, dataplane, cluster, owner, tmp_path):
    _, known = mint(cluster, MANAGE, by=owner)
    database = tmp_path / "console-copy.sqlite3"
    shutil.copy(connection.settings_dict["NAME"], database)
    port = free_port()
    env = dataplane_process.env | {"DATABASE_URL": f"sqlite:///{database}", "DATAPLANE_PORT": str(port),
                                   "DATAPLANE_DATA_DIR": str(tmp_path / "data")}
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    plane.start()
    try:
        plane.wait_until_accepted(known)
        httpx.put(f"{plane.url}/collections/books", headers={"api-key": known},
                  json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        # Break the database in place: every read from now on fails.
        with open(database, "r+b") as file:
            file.write(b"not a database" * 1000)
        # A key made during the outage, in the console's database.
        _, unseen = mint(cluster, MANAGE, by=owner)
        wait_for(lambda: plane.stats()[0]["failures"] >= 2, timeout=5)  # its reads fail now
        response = httpx.get(f"{plane.url}/collections/books/exists", headers={"api-key": known})
        assert response.json()["result"] == {"exists": True}
        response = httpx.get(f"{plane.url}/collections", headers={"api-key": unseen})
        assert (response.status_code, response.text) == (401, "Invalid API key or JWT")
        assert plane.process.poll() is None
        # The database comes back, holding the new key: the refusal was the outage's.
        shutil.copy(connection.settings_dict["NAME"], database)
        plane.wait_until_accepted(unseen, timeout=10)
    finally:
        plane.stop()
