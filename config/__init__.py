"""Configuration: typed settings from the environment and the contact-centre YAML."""

from config.loader import ConfigError, ConfigProblem, load_contact_centre
from config.schema import SLA, ContactCentre, Queue, RetryPolicy
from config.settings import Settings, SettingsError, load_settings

__all__ = [
    "SLA",
    "ConfigError",
    "ConfigProblem",
    "ContactCentre",
    "Queue",
    "RetryPolicy",
    "Settings",
    "SettingsError",
    "load_contact_centre",
    "load_settings",
]
