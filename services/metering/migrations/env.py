from services.common.migrate import run_env
from services.metering.models import metadata

run_env(metadata)
