"""Configuration: typed settings from the environment and the contact-centre YAML."""

from config.loader import load_contact_centre
from config.problems import ConfigError, ConfigProblem
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
