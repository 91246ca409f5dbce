"""What every model built from a config dataclass shares: Keras serialization through that config."""

from __future__ import annotations

import keras


class ConfiguredModel(keras.Model):
    """A `keras.Model` made from one frozen config dataclass (`model.config`, with `to_dict()`).

    Its `.keras` file stores the config's fields, and loading passes them back to `__init__`
    as `config=` (a dict, which each model turns back into its dataclass).
    """

    def get_config(self):
        config = super().get_config()
        config.update(config=self.config.to_dict())
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
