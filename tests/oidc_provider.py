"""The test bank's OpenID Connect provider for tests: its configuration and Vool's
providers file naming it, in a temporary folder (development secrets and keys made
there, never the repository's)."""
import yaml

from services.common import banklink

SECRET = "a-development-secret-for-this-test-only"


def configure(folder, bank_address, persons, bank_key):
    """``(testbank.yaml, oidc.yaml)`` for a test bank at ``bank_address`` signing
    banklink replies with ``bank_key`` (a PEM path): the providers ``testid`` (client
    secret), ``keyid`` (private_key_jwt) and ``badsecret`` (a secret the provider does
    not know)."""
    issuer = f"http://{bank_address}/oidc"
    (folder / "oidc.secret").write_text(SECRET + "\n")
    (folder / "wrong.secret").write_text("not-the-secret-the-provider-knows\n")
    banklink.generate_key_pair(folder / "client.key.pem", folder / "client.pub.pem")
    bank_file, providers_file = folder / "testbank.yaml", folder / "oidc.yaml"
    bank_file.write_text(yaml.safe_dump({
        "bank_id": "TESTBANK", "private_key": str(bank_key), "merchants": {},
        "persons": persons,
        "oidc": {"clients": {
            "vool": {"client_secret_file": str(folder / "oidc.secret")},
            "vool-key": {"public_key_file": str(folder / "client.pub.pem")}}},
    }, allow_unicode=True), encoding="utf-8")
    common = {"issuer": issuer, "minimum_acr": "substantial", "person_claim": "sub",
              "person_prefix": "EE",
              "name_claims": ["profile_attributes.given_name", "profile_attributes.family_name"]}
    providers_file.write_text(yaml.safe_dump({"providers": [
        {"id": "testid", "name": "Test eID", "client_id": "vool",
         "client_secret_file": str(folder / "oidc.secret"), **common},
        {"id": "keyid", "name": "Test eID by key", "client_id": "vool-key",
         "auth_method": "private_key_jwt", "private_key_file": str(folder / "client.key.pem"),
         **common},
        {"id": "badsecret", "name": "Test eID, wrong secret", "client_id": "vool",
         "client_secret_file": str(folder / "wrong.secret"), **common},
    ]}), encoding="utf-8")
    return bank_file, providers_file
