"""cxops.yaml: the one configuration (schema) and its line-aware loader."""

from cxops.config.loader import config_path, load_config, parse_config
from cxops.config.schema import ENV_NAMES, Config

__all__ = ["ENV_NAMES", "Config", "config_path", "load_config", "parse_config"]
