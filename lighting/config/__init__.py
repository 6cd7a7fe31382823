"""The controller's settings: one ``Settings`` object from a TOML file and the environment."""

from lighting.config.runtime import (
    CoapConfig,
    ContactConfig,
    ControlConfig,
    DeliveryConfig,
    FaultsConfig,
    IngestConfig,
    IngestStack,
    MemoryConfig,
    MetricsConfig,
    MqttConfig,
    RetentionConfig,
)
from lighting.config.settings import EXAMPLE_CONFIG, Settings, load_settings

__all__ = [
    "EXAMPLE_CONFIG",
    "CoapConfig",
    "ContactConfig",
    "ControlConfig",
    "DeliveryConfig",
    "FaultsConfig",
    "IngestConfig",
    "IngestStack",
    "MemoryConfig",
    "MetricsConfig",
    "MqttConfig",
    "RetentionConfig",
    "Settings",
    "load_settings",
]
