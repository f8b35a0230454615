"""docs/rpc.md and docs/asyncapi.json are what the models say now: a changed
api.py without `make docs` fails here, so the committed documents cannot drift."""
import pytest

from services import docs
from services.common.rpc_methods import methods_of


@pytest.mark.parametrize("path", [docs.RPC_DOC, docs.ASYNCAPI_DOC], ids=lambda p: p.name)
def test_the_committed_document_is_what_the_models_say(path):
    wanted = docs.documents()[path]
    assert path.exists(), f"{path.name} is missing: run `make docs` (vool docs) and commit it"
    assert path.read_text(encoding="utf-8") == wanted, (
        f"docs/{path.name} is out of date with the services' api.py: run `make docs` "
        f"(or .venv/bin/vool docs) and commit it")


def test_rpc_md_has_every_method_of_every_service_with_its_arguments_result_and_errors():
    text = docs.RPC_DOC.read_text(encoding="utf-8")
    for service, module in docs.apis():
        methods = methods_of(module)
        assert methods, f"{service}'s api.py publishes no RpcMethod"
        for method in methods:
            section = text.split(f"### {service}.{method.name}(", 1)
            assert len(section) == 2, f"{service}.{method.name} is not in docs/rpc.md"
            body = section[1].split("\n### ", 1)[0]
            assert method.summary and method.summary in body, f"{method.name}: no summary"
            for name in method.parameters:
                assert f"| `{name}` |" in body, f"{service}.{method.name}: {name}"
            assert "**Returns**" in body
            for error in method.raises:
                assert f"`{error.__name__}`" in body, f"{service}.{method.name}: {error}"


def test_a_published_model_s_constraints_and_comments_are_in_rpc_md():
    text = docs.RPC_DOC.read_text(encoding="utf-8")
    submit = text.split("#### SubmitReading", 1)[1].split("\n#### ", 1)[0]
    assert ("| `idempotency_key` | string or null | no (default `null`) | at least 1 "
            "character; at most 200 characters | the same key with the same reading "
            "answers the first answer again |") in submit
    assert "| `source` | one of `\"customer\"`, `\"delegate\"`, `\"operator\"`, `\"import\"` " \
           "| no (default `\"customer\"`) |" in submit
    assert "Other fields are refused." in submit


def test_vool_docs_check_says_when_a_document_is_stale(monkeypatch, tmp_path, capsys):
    from services import cli
    stale = tmp_path / "rpc.md"
    stale.write_text("old\n")
    monkeypatch.setattr(docs, "documents", lambda: {stale: "new\n"})
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    assert cli.main(["docs", "--check"]) == 1
    assert "out of date: rpc.md" in capsys.readouterr().out
    assert cli.main(["docs"]) == 0
    assert stale.read_text() == "new\n"
    assert cli.main(["docs", "--check"]) == 0
