"""GET /readyz: 200 when this instance should get traffic, 503 with Retry-After when it should not; /healthz stays 200."""

from __future__ import annotations

import sqlite3

import psycopg

from impl import Config, create_app
from impl.store.postgres import MIGRATE_LOCK

from . import postgres
from .conftest import FAST, Client as WsgiClient


def test_a_reachable_store_of_this_servers_schema_is_ready(tmp_path):
    web = WsgiClient(create_app(Config(db=str(tmp_path / "s.db"), **FAST)))
    ready = web.request("GET", "/readyz")
    assert ready.status == 200 and ready.json["status"] == "ready"


def test_a_schema_upgraded_by_a_newer_server_makes_this_one_unready_but_alive(tmp_path):
    path = str(tmp_path / "s.db")
    web = WsgiClient(create_app(Config(db=path, **FAST)))
    with sqlite3.connect(path) as conn:  # what a newer server's upgrade leaves
        conn.execute("PRAGMA user_version = 99")
    refused = web.request("GET", "/readyz")
    assert refused.status == 503 and refused.header("Retry-After")
    assert "schema version 99" in refused.json["error"]
    assert web.request("GET", "/healthz").status == 200


def test_an_unreachable_store_is_unready_but_alive(closing):
    database = postgres.postgres_database()
    web = WsgiClient(closing(create_app(Config(db=database, **FAST))))
    assert web.request("GET", "/readyz").status == 200
    name = database.rpartition("/")[2]
    with psycopg.connect(postgres.shared_server().admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # its connections die, and none can be made
    refused = web.request("GET", "/readyz")
    assert refused.status == 503 and refused.header("Retry-After"), refused.body
    assert "unavailable" in refused.json["error"]
    assert web.request("GET", "/healthz").status == 200


def test_a_postgres_schema_upgrade_in_progress_makes_every_instance_unready(closing):
    database = postgres.postgres_database()
    web = WsgiClient(closing(create_app(Config(db=database, **FAST))))
    assert web.request("GET", "/readyz").status == 200
    with psycopg.connect(database) as upgrader:  # holds the schema lock as an upgrading instance does
        upgrader.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        refused = web.request("GET", "/readyz")
        assert refused.status == 503 and "upgrade" in refused.json["error"]
        upgrader.rollback()
    assert web.request("GET", "/readyz").status == 200
