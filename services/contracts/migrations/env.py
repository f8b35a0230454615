from services.common.migrate import run_env
from services.contracts.models import metadata

run_env(metadata)
