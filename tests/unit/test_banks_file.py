import yaml

from services.common import banklink
from services.identity.banks import load_banks


def test_a_bank_whose_keys_are_missing_is_left_out_not_fatal(tmp_path):
    banklink.generate_key_pair(tmp_path / "ours.pem", tmp_path / "ours.pub")
    banklink.generate_key_pair(tmp_path / "bank.pem", tmp_path / "bank.pub")
    common = {"name": "B", "url": "http://b", "version": "009", "service": "4012",
              "snd_id": "VOOL", "rec_id": "B", "our_private_key": str(tmp_path / "ours.pem")}
    banks_file = tmp_path / "banks.yaml"
    banks_file.write_text(yaml.safe_dump({"banks": [
        {"id": "good", "bank_public_key": str(tmp_path / "bank.pub"), **common},
        {"id": "keyless", "bank_public_key": str(tmp_path / "nowhere.pub"), **common}]}))
    assert list(load_banks({"VOOL_BANKS_FILE": str(banks_file)})) == ["good"]
