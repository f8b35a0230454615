"""The OpenID Connect relying party's rules without a broker: the providers file,
the person an ID token names, the acr floor, the key set's refetch limit, and
the access log's redaction of a callback's code and state."""
from types import SimpleNamespace

import pytest
import yaml

from services.common.errors import Unauthenticated
from services.common.logs import redacted
from services.identity import oidc
from services.identity.oidc_providers import (ProviderMetadata, ProviderUnavailable,
                                             backchannel_endpoints, load_providers,
                                             on_backchannel)
from services.testbank.oidc import TestProvider

GRANDMOTHER = "44903136520"


def providers_file(tmp_path, monkeypatch, **entry):
    (tmp_path / "secret").write_text("s3cret\n")
    monkeypatch.setenv("VOOL_OIDC_FILE", str(tmp_path / "oidc.yaml"))
    (tmp_path / "oidc.yaml").write_text(yaml.safe_dump({"providers": [{
        "id": "tara", "issuer": "https://tara.example/", "client_id": "vool",
        "client_secret_file": str(tmp_path / "secret"), **entry}]}))
    return load_providers()


def test_a_provider_is_configuration_and_its_secret_never_in_the_file(tmp_path, monkeypatch):
    [provider] = providers_file(tmp_path, monkeypatch, minimum_acr="high").values()
    assert provider.issuer == "https://tara.example" and provider.client_secret == "s3cret"
    assert "s3cret" not in repr(provider)
    assert (provider.minimum_acr, provider.person_claim, provider.person_prefix) == (
        "high", "sub", "EE")
    assert providers_file(tmp_path, monkeypatch, client_secret_file=str(
        tmp_path / "missing")) == {}          # left out, the others go on
    monkeypatch.setenv("VOOL_TARA_SECRET", "from-env")
    [provider] = providers_file(tmp_path, monkeypatch, client_secret_env="VOOL_TARA_SECRET"
                                ).values()
    assert provider.client_secret == "from-env"
    with pytest.raises(ValueError, match="minimum_acr"):
        providers_file(tmp_path, monkeypatch, minimum_acr="extreme")


def test_the_person_is_ee_and_a_valid_personal_code_with_a_name(tmp_path, monkeypatch):
    [provider] = providers_file(tmp_path, monkeypatch, name_claims=[
        "profile_attributes.given_name", "profile_attributes.family_name"]).values()
    claims = {"sub": f"EE{GRANDMOTHER}",
              "profile_attributes": {"given_name": "Õie", "family_name": "Mäger"}}
    assert oidc.person_of(provider, claims) == (GRANDMOTHER, "Õie Mäger")
    for sub in (GRANDMOTHER, "EE44903136521", "LV44903136520", None):
        with pytest.raises(Unauthenticated) as refused:
            oidc.person_of(provider, {**claims, "sub": sub})
        assert refused.value.code == "oidc-bad-person-code"
    with pytest.raises(Unauthenticated) as refused:
        oidc.person_of(provider, {"sub": f"EE{GRANDMOTHER}"})
    assert refused.value.code == "oidc-bad-name"


def test_acr_must_reach_the_configured_minimum(tmp_path, monkeypatch):
    [provider] = providers_file(tmp_path, monkeypatch, minimum_acr="substantial").values()
    assert oidc.check_acr(provider, {"acr": "high"}) == "high"
    assert oidc.check_acr(provider, {"acr": "substantial"}) == "substantial"
    for acr in ("low", None, "made-up"):
        with pytest.raises(Unauthenticated) as refused:
            oidc.check_acr(provider, {"acr": acr})
        assert refused.value.code == "oidc-acr-too-low"


def test_an_unknown_key_fetches_the_keys_again_at_most_once_a_minute(tmp_path, monkeypatch):
    [provider] = providers_file(tmp_path, monkeypatch,
                                issuer="http://provider.test/oidc").values()
    test_provider = TestProvider(issuer="http://provider.test/oidc", clients={}, persons=[])
    fetched = []

    def get(url):
        fetched.append(url)
        body = (test_provider.discovery() if url.endswith("openid-configuration")
                else test_provider.jwks())
        return SimpleNamespace(raise_for_status=lambda: None, json=lambda: body)

    now = [1000.0]
    metadata = ProviderMetadata(provider, get=get, monotonic=lambda: now[0])
    first = test_provider.keys[-1].kid
    assert metadata.knows_key(first) and len(fetched) == 2      # discovery, keys
    second = test_provider.rotate_key()
    assert not metadata.knows_key(second)
    assert metadata.refetch_keys_for(second) is True and len(fetched) == 3
    third = test_provider.rotate_key()
    now[0] += 30
    assert metadata.refetch_keys_for(third) is False and len(fetched) == 3   # too soon
    now[0] += 31
    assert metadata.refetch_keys_for(third) is True and len(fetched) == 4
    now[0] += 3600                                                # kept an hour
    metadata.keys()
    assert len(fetched) == 6


def test_a_back_channel_replaces_the_issuers_base_of_the_endpoints_identity_calls():
    issuer, inside = "http://127.0.0.1:8100/oidc", "http://testbank:8100/oidc"
    document = {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks?v=2",
                "userinfo_endpoint": "https://elsewhere.example/oidc/userinfo",
                "end_session_endpoint": f"{issuer}/logout"}
    assert backchannel_endpoints(document, issuer, inside) == {
        "token_endpoint": f"{inside}/token", "jwks_uri": f"{inside}/jwks?v=2",
        # not under the issuer: as it is
        "userinfo_endpoint": "https://elsewhere.example/oidc/userinfo"}
    assert backchannel_endpoints(document, issuer, "") == {
        "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks?v=2",
        "userinfo_endpoint": "https://elsewhere.example/oidc/userinfo"}
    # only the issuer's base, at a boundary: /oidc2 is not under /oidc
    assert on_backchannel(f"{issuer}2/token", issuer, inside) == f"{issuer}2/token"
    assert on_backchannel(issuer, issuer, inside) == inside


def test_a_provider_with_a_back_channel_is_called_there_and_browsers_sent_to_the_issuer(
        tmp_path, monkeypatch):
    issuer = "http://127.0.0.1:8100/oidc"
    [provider] = providers_file(tmp_path, monkeypatch, issuer=issuer,
                                backchannel_url="http://testbank:8100/oidc/").values()
    assert provider.backchannel_url == "http://testbank:8100/oidc"
    test_provider = TestProvider(issuer=issuer, clients={}, persons=[])
    fetched = []

    def get(url):
        fetched.append(url)
        body = (test_provider.discovery() if url.endswith("openid-configuration")
                else test_provider.jwks())
        return SimpleNamespace(raise_for_status=lambda: None, json=lambda: body)

    metadata = ProviderMetadata(provider, get=get)
    assert metadata.discovery()["authorization_endpoint"] == f"{issuer}/authorize"
    assert metadata.discovery()["token_endpoint"] == f"{issuer}/token"   # an assertion's aud
    assert metadata.endpoint("token_endpoint") == "http://testbank:8100/oidc/token"
    assert metadata.knows_key(test_provider.keys[-1].kid)
    assert fetched == ["http://testbank:8100/oidc/.well-known/openid-configuration",
                       "http://testbank:8100/oidc/jwks"]
    # the issuer is still the public one: a document naming the back channel's is refused
    inside = TestProvider(issuer="http://testbank:8100/oidc", clients={}, persons=[])
    other = ProviderMetadata(provider, get=lambda url: SimpleNamespace(
        raise_for_status=lambda: None, json=inside.discovery))
    with pytest.raises(ProviderUnavailable, match="another issuer"):
        other.discovery()
    with pytest.raises(ValueError, match="backchannel_url"):
        providers_file(tmp_path, monkeypatch, backchannel_url="testbank:8100")


def test_a_callbacks_code_and_state_never_reach_a_log():
    line = ('127.0.0.1 - - "GET /api/v1/auth/oidc/testid/callback?code=abc-DEF_1&'
            'state=xyz HTTP/1.1" 303')
    assert redacted(line) == ('127.0.0.1 - - "GET /api/v1/auth/oidc/testid/callback?'
                              'code=<redacted>&state=<redacted> HTTP/1.1" 303')


def test_dev_keys_make_the_test_providers_client_secret_once(tmp_path):
    from services.testbank.devkeys import ensure_dev_keys
    assert "oidc-testbank" in ensure_dev_keys(tmp_path)
    secret = tmp_path / "oidc-testbank.secret"
    assert len(secret.read_text().strip()) >= 40 and secret.stat().st_mode & 0o077 == 0
    before = secret.read_text()
    assert ensure_dev_keys(tmp_path) == [] and secret.read_text() == before


def test_the_test_provider_sends_browsers_back_only_to_the_gateways_callback(tmp_path):
    """deploy/config/testbank.yaml registers the gateway's callback at VOOL_PUBLIC_URL
    for the client of deploy/config/oidc.yaml's test provider, and nothing else."""
    from pathlib import Path

    from services.gateway.actions.oidc import callback_url
    from services.testbank.oidc import ProviderError, load_test_provider

    deploy = Path(__file__).resolve().parents[2] / "deploy" / "config"
    settings = yaml.safe_load((deploy / "testbank.yaml").read_text(encoding="utf-8"))
    [testid] = [p for p in yaml.safe_load((deploy / "oidc.yaml").read_text())["providers"]
                if p["id"] == "testid"]
    (tmp_path / "secret").write_text("s3cret\n")
    client = settings["oidc"]["clients"][testid["client_id"]]
    client["client_secret_file"] = str(tmp_path / "secret")   # not the repository's
    (tmp_path / "testbank.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    request = {"client_id": testid["client_id"], "response_type": "code", "scope": "openid",
               "state": "s", "nonce": "n", "code_challenge": "c" * 43,
               "code_challenge_method": "S256"}
    for public_url in ("https://vool.example", "http://127.0.0.1:8123"):
        provider = load_test_provider({"VOOL_TESTBANK_CONFIG": str(tmp_path / "testbank.yaml"),
                                       "VOOL_PUBLIC_URL": public_url + "/"})
        ours = callback_url(public_url, "testid")
        assert provider.check_authorization({**request, "redirect_uri": ours})[
            "redirect_uri"] == ours
        for other in (f"{public_url}/api/v1/auth/oidc/other/callback",
                      "https://attacker.example/api/v1/auth/oidc/testid/callback",
                      ours + "?next=https://attacker.example", ours.replace("https", "http")
                      if ours.startswith("https") else ours.replace("http", "https")):
            with pytest.raises(ProviderError, match="redirect_uri is not registered"):
                provider.check_authorization({**request, "redirect_uri": other})
