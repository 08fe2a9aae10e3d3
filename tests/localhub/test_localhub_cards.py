"""Hostile model cards (issue 16 A.2, A.3): the card rule, and a server that refuses such
cards at commit and in validate-yaml and never lets a stored one break a listing."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from huggingface_hub import HfApi

from hubpg.cardsafe import (
    MAX_CARD_BYTES,
    MAX_CARD_DEPTH,
    card_data_from_readme,
    check_card_data,
    parse_card_yaml,
)
from hubpg.errors import CardDataError, HubpgError
from hubpg.localhub.storage import AddFile, FileEntry, Store

GOOD = "library_name: hubpg\ntags: [CartPole-v1, reinforce]\n"

#: A 1.3 KB "billion laughs": 9 levels of 9 aliases, 9**9 strings once expanded.
ALIAS_BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

HOSTILE = {
    "date key": ("2024-01-01: x\n", "is a date, not a string"),
    "int key": ("1: one\n", "is a int, not a string"),
    "bool key": ("on: push\n", "is a bool, not a string"),
    "binary key": ("? !!binary aGVsbG8=\n: x\n", "not a string"),
    "binary value": ("x: !!binary aGVsbG8=\n", "JSON cannot hold"),
    "deep": ("a: " + "[" * 3000 + "]" * 3000 + "\n", f"deeper than {MAX_CARD_DEPTH}"),
    "self key": ("self: 1\n", "'self' is reserved"),
    "get key": ("get: 1\n", "'get' is reserved"),
    "tags not a list": ("tags: 5\n", "'tags' is a int"),
    "alias bomb": (ALIAS_BOMB, "anchor or alias"),
    "anchor only": ("a: &x 1\n", "anchor or alias"),
    "nan": ("v: .nan\n", "not a finite number"),
    "huge int": ("n: " + "9" * 5000 + "\n", "cannot load"),
    "too big": ("t: " + "x" * (MAX_CARD_BYTES + 10) + "\n", "bytes of YAML"),
    "bad source": (
        "model-index: [{name: x, results: [{task: {type: t}, dataset: {type: d, name: n},"
        " source: s, metrics: [{type: m, value: 1}]}]}]\n",
        "huggingface_hub cannot read",
    ),
    "not a mapping": ("- a\n- b\n", "must be a mapping"),
    "bad yaml": ("tags: [oops\n", "not valid YAML"),
}


def readme(yaml_text: str) -> str:
    return f"---\n{yaml_text}---\n# card\n"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_card_rule_refuses_hostile_yaml(name: str) -> None:
    text, message = HOSTILE[name]
    with pytest.raises(CardDataError, match=message) as info:
        parse_card_yaml(text)
    assert isinstance(info.value, HubpgError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_card_rule_keeps_good_cards_json_ready() -> None:
    data = parse_card_yaml(GOOD + "date: 2024-01-31\nmodel-index:\n- name: r\n  results: []\n")
    assert data == {
        "library_name": "hubpg",
        "tags": ["CartPole-v1", "reinforce"],
        "date": "2024-01-31",
        "model-index": [{"name": "r", "results": []}],
    }
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert parse_card_yaml("") == {}
    assert card_data_from_readme("# no metadata\n") is None
    assert card_data_from_readme(readme(GOOD))["library_name"] == "hubpg"
    nested = {"a": 1}
    for _ in range(MAX_CARD_DEPTH + 2):
        nested = {"a": nested}
    with pytest.raises(CardDataError, match="deeper"):
        check_card_data(nested)
    with pytest.raises(CardDataError, match="not a string"):
        check_card_data({1: "x"})


def auth(hub, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(user)}"}


def commit_readme(hub, repo_id: str, text: str) -> httpx.Response:
    lines = [
        {"key": "header", "value": {"summary": "card", "description": ""}},
        {
            "key": "file",
            "value": {
                "path": "README.md",
                "content": base64.b64encode(text.encode()).decode(),
                "encoding": "base64",
            },
        },
    ]
    return httpx.post(
        f"{hub.url}/api/models/{repo_id}/commit/main",
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        headers={**auth(hub), "Content-Type": "application/x-ndjson"},
        timeout=60,
    )


@pytest.mark.parametrize("name", ["date key", "deep", "self key", "alias bomb", "binary key"])
def test_server_refuses_hostile_cards_at_commit_and_validate(alice: HfApi, hub, name) -> None:
    text, message = HOSTILE[name]
    alice.create_repo("alice/hostile")
    sha = alice.model_info("alice/hostile").sha
    response = commit_readme(hub, "alice/hostile", readme(text))
    assert response.status_code == 400
    assert "Invalid metadata in README.md" in response.json()["error"]
    assert message in response.json()["error"]
    assert alice.model_info("alice/hostile").sha == sha
    checked = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": readme(text)})
    assert checked.status_code == 400
    assert message in checked.json()["errors"][0]["message"]
    assert commit_readme(hub, "alice/hostile", readme(GOOD)).status_code == 200


def store_card_behind_the_servers_back(store: Store, repo_id: str, text: str) -> None:
    """What a server before the card rule stored: a README it would now refuse."""
    data = text.encode()
    store.put_blob(data)
    store.commit(
        repo_id,
        "main",
        [AddFile("README.md", FileEntry.regular(data))],
        title="old card",
        message="",
        author="alice",
    )


def test_stored_hostile_cards_never_break_listings(alice: HfApi, anon: HfApi, hub) -> None:
    store = Store(hub.data_dir)
    for name in ("date key", "deep", "self key", "alias bomb", "tags not a list"):
        repo_id = f"alice/{name.replace(' ', '-')}"
        alice.create_repo(repo_id)
        store_card_behind_the_servers_back(store, repo_id, readme(HOSTILE[name][0]))
    alice.create_repo("alice/good")
    assert commit_readme(hub, "alice/good", readme(GOOD)).status_code == 200

    for api in (alice, anon):
        models = {m.id: m for m in api.list_models(cardData=True)}
        assert len(models) == 6
        assert models["alice/good"].card_data.library_name == "hubpg"
        assert models["alice/good"].tags == ["hubpg", "CartPole-v1", "reinforce"]
        assert all(m.card_data is None for i, m in models.items() if i != "alice/good")
        info = api.model_info("alice/self-key")
        assert info.card_data is None and "README.md" in {s.rfilename for s in info.siblings}
    assert [m.id for m in alice.list_models(filter="CartPole-v1", cardData=True)] == ["alice/good"]


def test_validate_yaml_still_explains_plain_yaml_errors(hub) -> None:
    response = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": readme("a: [b\n")})
    assert (
        response.status_code == 400 and "not valid YAML" in response.json()["errors"][0]["message"]
    )
    with pytest.raises(
        ValueError, match="Invalid metadata in README.md"
    ):  # what upload_folder calls
        HfApi(endpoint=hub.url, token=False)._validate_yaml(readme("1: x\n"))
