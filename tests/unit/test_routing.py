"""A resource's routes hand each handler exactly the request inputs its signature names, keep the handler a
plain function, and put the key's authorizer on management routes only."""

from __future__ import annotations

import json

import pytest
from chalice import Chalice
from chalice.app import Response
from chalice.test import Client

from chalicelib.api.routing import Routes


def _app(routes: Routes) -> Chalice:
    app = Chalice(app_name="routing-test")
    app.register_blueprint(routes)
    return app


def test_a_handler_gets_its_path_parameters_and_the_inputs_it_names() -> None:
    routes = Routes(__name__)

    @routes.public("/things/{thing_id}", methods=["PUT"], name="put_thing")
    def replace(thing_id: str, raw: bytes | None, if_match: str | None, query: dict[str, str] | None) -> Response:
        return Response(body={"id": thing_id, "raw": (raw or b"").decode(), "if_match": if_match, "query": query},
                        status_code=200)

    app = _app(routes)
    with Client(app) as client:
        answer = client.http.put("/things/t1?x=1", body=b'{"a": 1}', headers={"If-Match": '"3"'})
    assert answer.status_code == 200
    assert json.loads(answer.body) == {"id": "t1", "raw": '{"a": 1}', "if_match": '"3"', "query": {"x": "1"}}
    assert replace("t2", b"", None, None).status_code == 200  # still a plain function
    assert app.routes["/things/{thing_id}"]["PUT"].view_name == "put_thing"  # the operation id


def test_a_handler_naming_an_input_that_does_not_exist_is_refused_at_import() -> None:
    routes = Routes(__name__)
    with pytest.raises(TypeError, match="body"):

        @routes.public("/things", methods=["POST"])
        def create(body: bytes) -> Response:
            raise AssertionError("never registered")


def test_management_routes_carry_the_authorizer_where_the_stage_requires_a_key(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    for auth, expected in (("on", "bearer_key"), ("off", None)):
        monkeypatch.setenv("API_AUTH", auth)
        routes = Routes(__name__)

        @routes.management("/private", methods=["GET"])
        def private() -> Response:
            return Response(body={}, status_code=200)

        @routes.public("/open", methods=["GET"])
        def open_route() -> Response:
            return Response(body={}, status_code=200)

        app = _app(routes)
        private_authorizer = app.routes["/private"]["GET"].authorizer
        assert (private_authorizer.name if private_authorizer else None) == expected
        assert app.routes["/open"]["GET"].authorizer is None
